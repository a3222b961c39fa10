"""KServe's own Python SDK (kserve 0.21, from PyPI) against the real scorer: InferenceRESTClient with protocol
v2, which puts `model_name` in the request body, and its JSON and binary (raw) tensors; InferenceGRPCClient
on the gRPC port. Run in its own
pytest process (see requirements.txt)."""

import asyncio

import grpc
import httpx
import numpy as np
import pytest
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig


def run(coro):
    return asyncio.run(coro)


async def with_client(fn):
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))
    try:
        return await fn(client)
    finally:
        await client.close()


def request(scorer, rows, binary=False, name="input"):
    tensor = InferInput(name=name, shape=list(rows.shape), datatype="FP32")
    tensor.set_data_from_numpy(rows, binary_data=binary)
    return InferRequest(model_name=scorer.model, infer_inputs=[tensor], request_id="k-1")


def test_rest_health(scorer):
    async def check(client):
        assert await client.is_server_live(scorer.url)
        assert await client.is_server_ready(scorer.url)
        assert await client.is_model_ready(scorer.url, scorer.model)

    run(with_client(check))


@pytest.mark.parametrize("binary", [False, True])
def test_rest_infer(scorer, rows, binary):
    result = run(
        with_client(lambda c: c.infer(scorer.url, request(scorer, rows, binary), model_name=scorer.model))
    )
    outputs = {o.name: o for o in result.outputs}
    p = outputs["probabilities"].as_numpy()
    labels = outputs["label"].as_numpy()
    assert result.model_name == scorer.model
    assert result.id == "k-1"
    assert p.shape == (4, 2) and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert labels.shape == (4,)
    assert np.array_equal(labels.astype(np.int64), (p[:, 1] >= scorer.card["threshold"]).astype(np.int64))


def test_rest_errors_name_the_problem(scorer, rows):
    with pytest.raises(httpx.HTTPStatusError, match="unexpected inference input 'features'") as err:
        run(with_client(lambda c: c.infer(scorer.url, request(scorer, rows, name="features"), model_name=scorer.model)))
    assert err.value.response.status_code == 400
    bad = rows.copy()
    bad[0, 0] = -1
    with pytest.raises(httpx.HTTPStatusError, match=r"feature amount\) must be >= 0"):
        run(with_client(lambda c: c.infer(scorer.url, request(scorer, bad), model_name=scorer.model)))
    with pytest.raises(httpx.HTTPStatusError, match="not served here") as err:
        run(with_client(lambda c: c.infer(scorer.url, request(scorer, rows), model_name="no-such-model")))
    assert err.value.response.status_code == 404


# --- gRPC: KServe's InferenceGRPCClient (typed contents by default, raw with binary_data) ---


async def with_grpc(scorer, fn):
    client = InferenceGRPCClient(scorer.grpc_target, retries=2, timeout=30)
    try:
        return await fn(client)
    finally:
        await client.close()


def test_grpc_health(scorer):
    async def check(client):
        assert await client.is_server_live()
        assert await client.is_server_ready()
        assert await client.is_model_ready(scorer.model)

    run(with_grpc(scorer, check))


@pytest.mark.parametrize("binary", [False, True])
def test_grpc_infer_matches_rest(scorer, rows, binary):
    result = run(with_grpc(scorer, lambda c: c.infer(request(scorer, rows, binary))))
    outputs = {o.name: o for o in result.outputs}
    p = outputs["probabilities"].as_numpy()
    assert result.model_name == scorer.model and result.id == "k-1"
    assert p.shape == (4, 2)
    assert outputs["label"].as_numpy().shape == (4,)
    rest = run(with_client(lambda c: c.infer(scorer.url, request(scorer, rows), model_name=scorer.model)))
    rest_p = {o.name: o for o in rest.outputs}["probabilities"].as_numpy()
    assert np.allclose(p, rest_p)


def test_grpc_bad_input_is_invalid_argument_with_the_rest_message(scorer, rows):
    bad = rows.copy()
    bad[0, 0] = -1
    with pytest.raises(grpc.RpcError) as err:
        run(with_grpc(scorer, lambda c: c.infer(request(scorer, bad))))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "inputs[0].data[0] (row 0, feature amount) must be >= 0" in err.value.details()
    ints = InferInput(name="input", shape=list(rows.shape), datatype="BYTES")
    ints.set_data_from_numpy(rows.astype(np.object_), binary_data=False)
    with pytest.raises(grpc.RpcError) as err:
        run(with_grpc(scorer, lambda c: c.infer(InferRequest(model_name=scorer.model, infer_inputs=[ints]))))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
