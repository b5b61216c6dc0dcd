#!/usr/bin/env python3
"""Writes the bad checkpoints of the bad-input tests into OUT_DIR, each derived from ../shared/models/opt-tiny.

usage: make_bad_inputs.py SHARED_DIR OUT_DIR
"""
import json
import os
import pickle
import shutil
import struct
import sys
import zipfile

shared, out = sys.argv[1], sys.argv[2]
base = os.path.join(shared, "models", "opt-tiny")
base_bin = os.path.join(shared, "models", "opt-tiny-bin")


def model_dir(name, config=None):
    d = os.path.join(out, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for f in ("vocab.json", "merges.txt"):
        os.symlink(os.path.join(base, f), os.path.join(d, f))
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write(config if config is not None else open(os.path.join(base, "config.json")).read())
    return d


def read_safetensors():
    with open(os.path.join(base, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return header, data


def write_safetensors(d, header, data, header_len=None):
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(d, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", header_len if header_len is not None else len(h)))
        f.write(h)
        f.write(data)


header, data = read_safetensors()
config = json.load(open(os.path.join(base, "config.json")))

d = model_dir("malformed-config", config='{"model_type": "opt", "hidden_size": 64,')
d = model_dir("llama-config", config=json.dumps(dict(config, model_type="llama")))
d = model_dir("no-weights")
d = model_dir("header-past-end")
write_safetensors(d, header, data, header_len=1 << 40)
d = model_dir("truncated")
write_safetensors(d, header, data[: len(data) // 2])

h = json.loads(json.dumps(header))
k = "model.decoder.layers.0.fc1.weight"
h[k]["data_offsets"] = [h[k]["data_offsets"][0] - 64, h[k]["data_offsets"][1] - 64]
write_safetensors(model_dir("overlapping-offsets"), h, data)

h = json.loads(json.dumps(header))
h[k]["data_offsets"] = [len(data) + 16, len(data) + 16 + 65536]
write_safetensors(model_dir("offsets-out-of-range"), h, data)

h = json.loads(json.dumps(header))
h[k]["dtype"] = "F8_E4M3X"
write_safetensors(model_dir("unknown-dtype"), h, data)

h = json.loads(json.dumps(header))
del h["model.decoder.layers.1.fc2.bias"]
write_safetensors(model_dir("missing-tensor"), h, data)

# A self-consistent file whose fc1 is [128, 128] where config.json says [256, 64].
h = json.loads(json.dumps(header))
h[k]["shape"] = [128, 128]
write_safetensors(model_dir("wrong-shape"), h, data)

# pytorch_model.bin whose pickle uses an opcode outside what torch.save writes for a state dict.
d = model_dir("bad-pickle")
with zipfile.ZipFile(os.path.join(base_bin, "pytorch_model.bin")) as src, \
        zipfile.ZipFile(os.path.join(d, "pytorch_model.bin"), "w", zipfile.ZIP_STORED) as dst:
    for info in src.infolist():
        payload = src.read(info.filename)
        if info.filename.endswith("data.pkl"):
            payload = pickle.dumps({"x": bytearray(b"abc")}, protocol=5)  # BYTEARRAY8 (0x96)
        dst.writestr(info.filename, payload)

# A model whose tokenizer files are missing: only the driver notices, the other ranks must not hang.
d = model_dir("no-tokenizer")
for f in ("vocab.json", "merges.txt"):
    os.remove(os.path.join(d, f))
os.symlink(os.path.join(base, "model.safetensors"), os.path.join(d, "model.safetensors"))

with open(os.path.join(out, "long-prompt.txt"), "w") as f:
    f.write("Hello, my dog is cute\n" + "the " * 300 + "\n")
print("bad inputs written to", out)
