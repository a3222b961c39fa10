"""tritonclient (Triton's stock OIP client, from PyPI) against the real scorer: over HTTP with binary
tensors (its default) and JSON tensors, and over gRPC with raw tensor contents. Run in its own pytest
process (see requirements.txt)."""

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


@pytest.fixture()
def http(scorer):
    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{scorer.http_port}")
    yield client
    client.close()


def test_http_health_and_metadata(http, scorer):
    assert http.is_server_live()
    assert http.is_server_ready()
    assert http.is_model_ready(scorer.model)
    meta = http.get_model_metadata(scorer.model)
    assert meta["name"] == scorer.model
    assert meta["inputs"][0]["shape"] == [-1, scorer.features]
    assert [o["name"] for o in meta["outputs"]] == ["probabilities", "label"]


@pytest.mark.parametrize("binary", [True, False])
def test_http_infer(http, scorer, rows, binary):
    tensor = httpclient.InferInput("input", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows, binary_data=binary)
    outputs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in ("probabilities", "label")]
    result = http.infer(scorer.model, [tensor], outputs=outputs, request_id="t-1")
    p = result.as_numpy("probabilities")
    labels = result.as_numpy("label")
    assert p.shape == (4, 2) and p.dtype == np.float32
    assert labels.shape == (4,) and labels.dtype == np.int64
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert np.array_equal(labels, (p[:, 1] >= scorer.card["threshold"]).astype(np.int64))
    assert result.get_response()["id"] == "t-1"


def test_http_binary_and_json_agree(http, scorer, rows):
    answers = []
    for binary in (True, False):
        tensor = httpclient.InferInput("input", list(rows.shape), "FP32")
        tensor.set_data_from_numpy(rows, binary_data=binary)
        answers.append(http.infer(scorer.model, [tensor]).as_numpy("probabilities"))
    assert np.array_equal(answers[0], answers[1])


def test_http_errors_name_the_problem(http, scorer, rows):
    tensor = httpclient.InferInput("input", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    with pytest.raises(httpclient.InferenceServerException, match="not served here"):
        http.infer("no-such-model", [tensor])
    wrong = httpclient.InferInput("features", list(rows.shape), "FP32")
    wrong.set_data_from_numpy(rows)
    with pytest.raises(httpclient.InferenceServerException, match="unexpected inference input 'features'"):
        http.infer(scorer.model, [wrong])
    bad = rows.copy()
    bad[0, 0] = -1
    negative = httpclient.InferInput("input", list(bad.shape), "FP32")
    negative.set_data_from_numpy(bad, binary_data=False)
    with pytest.raises(httpclient.InferenceServerException, match=r"feature amount\) must be >= 0"):
        http.infer(scorer.model, [negative])


# --- gRPC (inference.GRPCInferenceService on GRPC_PORT) ---


@pytest.fixture()
def grpc_client(scorer):
    client = grpcclient.InferenceServerClient(url=scorer.grpc_target)
    yield client
    client.close()


def test_grpc_health_and_metadata(grpc_client, scorer):
    assert grpc_client.is_server_live()
    assert grpc_client.is_server_ready()
    assert grpc_client.is_model_ready(scorer.model)
    server = grpc_client.get_server_metadata()
    assert server.name == "fraud-scorer"
    meta = grpc_client.get_model_metadata(scorer.model)
    assert meta.name == scorer.model
    assert list(meta.inputs[0].shape) == [-1, scorer.features]
    assert [o.name for o in meta.outputs] == ["probabilities", "label"]


def test_grpc_infer_raw_contents_agrees_with_http(grpc_client, http, scorer, rows):
    # tritonclient sends raw_input_contents (set_data_from_numpy) and reads raw_output_contents.
    tensor = grpcclient.InferInput("input", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    result = grpc_client.infer(scorer.model, [tensor], request_id="g-1")
    p = result.as_numpy("probabilities")
    labels = result.as_numpy("label")
    assert p.shape == (4, 2) and p.dtype == np.float32
    assert labels.shape == (4,) and labels.dtype == np.int64
    assert result.get_response().id == "g-1"
    rest = httpclient.InferInput("input", list(rows.shape), "FP32")
    rest.set_data_from_numpy(rows)
    assert np.array_equal(p, http.infer(scorer.model, [rest]).as_numpy("probabilities"))


def test_grpc_errors_are_invalid_argument_with_the_rest_message(grpc_client, scorer, rows):
    wrong = grpcclient.InferInput("features", list(rows.shape), "FP32")
    wrong.set_data_from_numpy(rows)
    with pytest.raises(InferenceServerException) as err:
        grpc_client.infer(scorer.model, [wrong])
    assert err.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "unexpected inference input 'features' (model expects 'input')" in err.value.message()
    bad = rows.copy()
    bad[0, 0] = -1
    negative = grpcclient.InferInput("input", list(bad.shape), "FP32")
    negative.set_data_from_numpy(bad)
    with pytest.raises(InferenceServerException) as err:
        grpc_client.infer(scorer.model, [negative])
    assert err.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "inputs[0].data[0] (row 0, feature amount) must be >= 0" in err.value.message()
    short = grpcclient.InferInput("input", [4, scorer.features + 1], "FP32")
    short.set_data_from_numpy(np.zeros((4, scorer.features + 1), dtype=np.float32))
    with pytest.raises(InferenceServerException, match=r"must have shape \[N, \d+\]"):
        grpc_client.infer(scorer.model, [short])
    with pytest.raises(InferenceServerException) as err:
        grpc_client.infer("no-such-model", [negative])
    assert err.value.status() == "StatusCode.NOT_FOUND"
