"""A stock KServe v2 client (tritonclient[http]) against the scorer: health, metadata, and inference with
binary tensors (tritonclient's default) and with JSON tensors. Exits non-zero on any mismatch.

    python test/python/kserve_client_check.py http://127.0.0.1:8080 fraud-detector
"""

import sys
from urllib.parse import urlparse

import numpy as np
import tritonclient.http as httpclient

url, model = sys.argv[1], sys.argv[2]
client = httpclient.InferenceServerClient(url=urlparse(url).netloc)
assert client.is_server_live(), "server not live"
assert client.is_server_ready(), "server not ready"
assert client.is_model_ready(model), "model not ready"
meta = client.get_model_metadata(model)
features = meta["inputs"][0]["shape"][1]
rows = np.zeros((4, features), dtype=np.float32)
rows[:, 0] = [10.0, 250.0, 990.0, 5000.0]

results = []
for binary in (True, False):
    tensor = httpclient.InferInput(meta["inputs"][0]["name"], list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows, binary_data=binary)
    outputs = [httpclient.InferRequestedOutput(o["name"], binary_data=binary) for o in meta["outputs"]]
    result = client.infer(model, [tensor], outputs=outputs, request_id="check-1")
    probabilities = result.as_numpy("probabilities")
    labels = result.as_numpy("label")
    assert probabilities.shape == (4, 2) and probabilities.dtype == np.float32, probabilities
    assert labels.shape == (4,) and labels.dtype == np.int64, labels
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5), probabilities
    results.append(probabilities)
# No outputs requested: tritonclient then asks for every output in binary.
tensor = httpclient.InferInput(meta["inputs"][0]["name"], list(rows.shape), "FP32")
tensor.set_data_from_numpy(rows)
default = client.infer(model, [tensor]).as_numpy("probabilities")
assert np.array_equal(results[0], results[1]) and np.array_equal(results[0], default), "binary and JSON differ"
try:
    client.infer("no-such-model", [tensor])
    raise SystemExit("an unknown model must fail")
except httpclient.InferenceServerException as err:
    assert "not served here" in str(err), err
print(f"tritonclient {httpclient.__name__}: live, ready, metadata, infer (binary + JSON) ok; p(fraud) = {results[0][:, 1].round(4).tolist()}")
