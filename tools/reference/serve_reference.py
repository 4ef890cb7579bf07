"""Reference fixtures and expected outputs for mlops-serve's model tests.

Writes tiny fixtures to mlops-serve/tests/fixtures/ and prints the expected outputs that
mlops-serve/tests/reference.rs pins:

  - mlp.json + mlp.safetensors: 4 -> 5 (relu) -> 3 (softmax)
  - logistic.json + logistic.safetensors: 3 -> 1 (sigmoid)
  - deep.json + deep.safetensors: 3 -> 4 (tanh) -> 4 (gelu, erf form) -> 2 (sigmoid), no bias on layer 1
  - mlp.onnx: the same weights as mlp.safetensors as Gemm -> Relu -> Gemm -> Softmax, batch dim "N"

Expected values are computed in float64 with numpy/scipy from the float32 weights; the ONNX
graph is also run through onnx.reference.ReferenceEvaluator and checked against numpy.

Run: python3 tools/reference/serve_reference.py   (needs requirements-serve.txt)
"""
import json
import os
import struct

import numpy as np
from scipy.special import erf, expit, softmax

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "..", "mlops-serve", "tests", "fixtures")
os.makedirs(FIX, exist_ok=True)


def write_safetensors(path, tensors):
    """Minimal safetensors writer: 8-byte LE header length, JSON header, raw LE data."""
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        b = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def f32(a):
    return np.asarray(a, dtype=np.float32)


rng = np.random.default_rng(20241126)
X4 = f32([[0.5, -1.0, 2.0, 0.0], [1.5, 0.25, -0.75, 3.0], [-2.0, 0.0, 0.1, -0.3]])
X3 = f32([[0.2, -0.4, 1.0], [3.0, 1.0, -2.0]])

# --- MLP 4 -> 5 relu -> 3 softmax -----------------------------------------------------------
W0 = f32(rng.standard_normal((5, 4)) * 0.7)
b0 = f32(rng.standard_normal(5) * 0.1)
W1 = f32(rng.standard_normal((3, 5)) * 0.7)
b1 = f32(rng.standard_normal(3) * 0.1)
write_safetensors(os.path.join(FIX, "mlp.safetensors"), {"l0.weight": W0, "l0.bias": b0, "l1.weight": W1, "l1.bias": b1})
with open(os.path.join(FIX, "mlp.json"), "w") as f:
    json.dump({"input": "x", "output": "probs", "feature_names": ["a", "b", "c", "d"],
               "layers": [{"weight": "l0.weight", "bias": "l0.bias", "activation": "relu"},
                          {"weight": "l1.weight", "bias": "l1.bias", "activation": "softmax"}]}, f, indent=1)
x = X4.astype(np.float64)
h = np.maximum(x @ W0.T.astype(np.float64) + b0, 0.0)
mlp_out = softmax(h @ W1.T.astype(np.float64) + b1, axis=1)
print("MLP: softmax(np.maximum(X4 @ W0.T + b0, 0) @ W1.T + b1, axis=1) =")
print(repr(mlp_out.ravel().tolist()))

# --- logistic 3 -> 1 sigmoid ---------------------------------------------------------------
Wl = f32([[0.8, -1.2, 0.5]])
bl = f32([0.1])
write_safetensors(os.path.join(FIX, "logistic.safetensors"), {"w": Wl, "b": bl})
with open(os.path.join(FIX, "logistic.json"), "w") as f:
    json.dump({"layers": [{"weight": "w", "bias": "b", "activation": "sigmoid"}]}, f, indent=1)
log_out = expit(X3.astype(np.float64) @ Wl.T.astype(np.float64) + bl)
print("LOGISTIC: expit(X3 @ Wl.T + bl) =")
print(repr(log_out.ravel().tolist()))

# --- deep: tanh, gelu(erf), sigmoid; layer 1 without bias -----------------------------------
D0 = f32(rng.standard_normal((4, 3)) * 0.8)
c0 = f32(rng.standard_normal(4) * 0.1)
D1 = f32(rng.standard_normal((4, 4)) * 0.8)
D2 = f32(rng.standard_normal((2, 4)) * 0.8)
c2 = f32(rng.standard_normal(2) * 0.1)
write_safetensors(os.path.join(FIX, "deep.safetensors"), {"d0.w": D0, "d0.b": c0, "d1.w": D1, "d2.w": D2, "d2.b": c2})
with open(os.path.join(FIX, "deep.json"), "w") as f:
    json.dump({"input": "features", "output": "score",
               "layers": [{"weight": "d0.w", "bias": "d0.b", "activation": "tanh"},
                          {"weight": "d1.w", "activation": "gelu"},
                          {"weight": "d2.w", "bias": "d2.b", "activation": "sigmoid"}]}, f, indent=1)
z = np.tanh(X3.astype(np.float64) @ D0.T + c0)
z = z @ D1.T.astype(np.float64)
z = z * 0.5 * (1.0 + erf(z / np.sqrt(2.0)))
deep_out = expit(z @ D2.T.astype(np.float64) + c2)
print("DEEP: expit(gelu_erf(np.tanh(X3 @ D0.T + c0) @ D1.T) @ D2.T + c2) =")
print(repr(deep_out.ravel().tolist()))

# --- ONNX: same MLP as Gemm/Relu/Gemm/Softmax ----------------------------------------------
from onnx import TensorProto, helper, numpy_helper, save
from onnx.reference import ReferenceEvaluator

inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4])
out = helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 3])
inits = [numpy_helper.from_array(W0, "W0"), numpy_helper.from_array(b0, "b0"),
         numpy_helper.from_array(W1, "W1"), numpy_helper.from_array(b1, "b1")]
nodes = [
    helper.make_node("Gemm", ["input", "W0", "b0"], ["h0"], transB=1),
    helper.make_node("Relu", ["h0"], ["h1"]),
    helper.make_node("Gemm", ["h1", "W1", "b1"], ["logits"], transB=1),
    helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
]
graph = helper.make_graph(nodes, "mlp", [inp], [out], initializer=inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
save(model, os.path.join(FIX, "mlp.onnx"))
(onnx_out,) = ReferenceEvaluator(model).run(None, {"input": X4})
assert np.allclose(onnx_out, mlp_out, atol=1e-6), (onnx_out, mlp_out)
print("ONNX: ReferenceEvaluator(mlp.onnx).run(None, {'input': X4}) =")
print(repr(onnx_out.astype(np.float64).ravel().tolist()))

# --- Module predictor (candle_nn::Linear with weights [[2,-1,0.5],[0,1,1]], bias [0.5,-0.5]) --
Wm = np.array([[2.0, -1.0, 0.5], [0.0, 1.0, 1.0]])
bm = np.array([0.5, -0.5])
print("MODULE: X3 @ Wm.T + bm =")
print(repr((X3.astype(np.float64) @ Wm.T + bm).ravel().tolist()))
