#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/ (committed; rerun only to change them).

Real inputs where they are small (the opt-tiny safetensors header, opt-tiny-bin's data.pkl, the config.json
files of ../shared/models); hand-built ones otherwise, because the real pytorch_model.bin is 13 MB: a small
torch.save-style zip (stored members, data aligned to 64 bytes, ZIP64 end records as torch writes them) whose
pickle is made by Python's own pickler with stand-ins for torch's globals, so its opcodes are the real ones.

  /usr/bin/python3 tests/fuzz/make_seeds.py [SHARED_DIR]
"""
import collections
import glob
import json
import os
import pickle
import struct
import sys
import types
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../../shared"))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# --- safetensors_header: the input is the start of the file (8-byte length + JSON header + some data) ---------
with open(os.path.join(SHARED, "models/opt-tiny/model.safetensors"), "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    put("safetensors_header", "opt_tiny", struct.pack("<Q", n) + f.read(n))


def safetensors(header, data_len):
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + bytes(data_len)


put("safetensors_header", "two_tensors", safetensors({
    "__metadata__": {"format": "pt"},
    "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
    "b": {"dtype": "BF16", "shape": [4], "data_offsets": [24, 32]},
    "c": {"dtype": "I64", "shape": [], "data_offsets": [32, 40]},
    "e": {"dtype": "F16", "shape": [0, 5], "data_offsets": [40, 40]}}, 40))
put("safetensors_header", "empty", safetensors({}, 0))

# --- torch_pickle / torch_zip ---------------------------------------------------------------------------------
with zipfile.ZipFile(os.path.join(SHARED, "models/opt-tiny-bin/pytorch_model.bin")) as z:
    put("torch_pickle", "opt_tiny_data.pkl", z.read("pytorch_model/data.pkl"))

# Stand-ins with torch's module and class names: pickle writes GLOBAL "torch._utils\n_rebuild_tensor_v2\n" etc.
torch_mod = types.ModuleType("torch")
utils_mod = types.ModuleType("torch._utils")
sys.modules["torch"], sys.modules["torch._utils"] = torch_mod, utils_mod
for cls in ["FloatStorage", "HalfStorage", "BFloat16Storage", "IntStorage", "LongStorage"]:
    c = type(cls, (), {})
    c.__module__ = "torch"
    setattr(torch_mod, cls, c)


def _rebuild_tensor_v2(*a):
    pass


def _rebuild_parameter(*a):
    pass


for fn in (_rebuild_tensor_v2, _rebuild_parameter):
    fn.__module__ = "torch._utils"
    setattr(utils_mod, fn.__name__, fn)


class Storage:
    def __init__(self, cls, key, numel):
        self.cls, self.key, self.numel = cls, key, numel


class Tensor:
    def __init__(self, storage, offset, shape, param=False):
        self.storage, self.offset, self.shape, self.param = storage, offset, shape, param

    def __reduce_ex__(self, proto):
        stride = []
        s = 1
        for d in reversed(self.shape):
            stride.insert(0, s)
            s *= d
        t = (_rebuild_tensor_v2, (self.storage, self.offset, tuple(self.shape), tuple(stride), False,
                                  collections.OrderedDict()))
        if not self.param:
            return t
        inner = Tensor(self.storage, self.offset, self.shape)
        return (_rebuild_parameter, (inner, False, collections.OrderedDict()))


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.cls, obj.key, "cpu", obj.numel)
        return None


def torch_pickle(state):
    import io
    buf = io.BytesIO()
    TorchPickler(buf, protocol=2).dump(state)
    return buf.getvalue()


s0 = Storage(torch_mod.FloatStorage, "0", 12)
s1 = Storage(torch_mod.HalfStorage, "1", 4)
s2 = Storage(torch_mod.LongStorage, "2", 1)
state = collections.OrderedDict()
state["decoder.embed_tokens.weight"] = Tensor(s0, 0, [2, 3])
state["decoder.layers.0.fc1.bias"] = Tensor(s0, 6, [6], param=True)  # shares storage 0 at an offset
state["decoder.final_layer_norm.weight"] = Tensor(s1, 0, [4])
state["step"] = Tensor(s2, 0, [])
pkl = torch_pickle(state)
put("torch_pickle", "small.pkl", pkl)
members = [("archive/data.pkl", pkl), ("archive/byteorder", b"little"), ("archive/data/0", bytes(48)),
           ("archive/data/1", bytes(8)), ("archive/data/2", bytes(8)), ("archive/version", b"3\n")]


def torch_zip(members):
    """As torch's PyTorchStreamWriter: stored, local extra field pads data to 64 bytes, ZIP64 end records."""
    out = bytearray()
    central = bytearray()
    for name, data in members:
        nm = name.encode()
        offset = len(out)
        pad = (-(offset + 30 + len(nm) + 4)) % 64
        extra = struct.pack("<HH", 0x4646, pad) + bytes(pad)  # torch's "FF" padding record
        crc = zipfile.crc32(data)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, len(data), len(data), len(nm),
                           len(extra)) + nm + extra + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, len(data), len(data),
                               len(nm), 0, 0, 0, 0, 0, offset) + nm
    cd_offset = len(out)
    out += central
    z64 = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 30, 45, 0, 0, len(members), len(members), len(central),
                       cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, z64, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), cd_offset, 0)
    return bytes(out)


put("torch_zip", "small_zip64.bin", torch_zip(members))
import io
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
    for name, data in members:
        z.writestr(name.replace("archive/", "pytorch_model/"), data)
put("torch_zip", "small_zipfile.bin", buf.getvalue())

# --- model_config -----------------------------------------------------------------------------------------------
for path in sorted(glob.glob(os.path.join(SHARED, "models/*/config.json"))):
    put("model_config", os.path.basename(os.path.dirname(path)) + ".json", open(path, "rb").read())
put("model_config", "opt_350m_style.json", json.dumps({
    "model_type": "opt", "vocab_size": 50272, "hidden_size": 64, "num_attention_heads": 4,
    "num_hidden_layers": 3, "ffn_dim": 256, "max_position_embeddings": 128, "word_embed_proj_dim": 32,
    "do_layer_norm_before": False, "_remove_final_layer_norm": False, "torch_dtype": "float16",
    "activation_function": "relu", "bos_token_id": 2, "eos_token_id": 2, "pad_token_id": 1}))
put("model_config", "minimal.json", '{"model_type":"opt","vocab_size":8,"hidden_size":4,"num_attention_heads":2,'
    '"num_hidden_layers":1,"ffn_dim":8,"max_position_embeddings":4,"enable_bias":null}')

# --- tokenizer: text for encode/decode with the real OPT vocab --------------------------------------------------
texts = {
    "english": "Hello, my dog is cute. The capital of France is Paris; I'll go  now!\n",
    "code": "def fibonacci(n): return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)\n\t\r\n",
    "special": "</s>a <s> b<pad><unk><|endoftext|></s</s>>",
    "contractions": "it's they're we've I'm you'll he'd don't 'S 'LL",
    "unicode": "naïve café — 東京 Ελληνικά العربية 😀👍🏽 ½ ² Ⅻ \u00a0\u2028\u3000x",
    "digits": "3.14159 2024-01-01 1,000,000 ١٢٣ ๒๓",
}
for k, v in texts.items():
    put("tokenizer", k + ".txt", v)
put("tokenizer", "invalid_utf8.bin", b"ab\xe2\x82 \xc3\x28 \xf0\x9f\x98 \xed\xa0\x80 \xff\xfe\xc0\xaf</s>\x00")

# --- tokenizer_files: vocab.json NUL merges.txt [NUL special_tokens_map.json] (a hand-made byte-level vocab) -----
vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "h": 4, "e": 5, "l": 6, "o": 7, "Ġ": 8, "w": 9, "r": 10,
         "d": 11, "he": 12, "ll": 13, "hell": 14, "hello": 15, "Ġw": 16, "or": 17, "Ġwor": 18, "Ġworld": 19}
merges = "#version: 0.2\nh e\nl l\nhe ll\nhell o\nĠ w\no r\nĠw or\nĠwor l\nĠworl d\n"
put("tokenizer_files", "small", json.dumps(vocab, ensure_ascii=False).encode() + b"\0" + merges.encode())
specials = {"bos_token": "<s>", "eos_token": {"content": "</s>", "lstrip": False}, "pad_token": "<pad>",
            "additional_special_tokens": ["<unk>", "hello"]}
put("tokenizer_files", "small_specials", json.dumps(vocab, ensure_ascii=False).encode() + b"\0" + merges.encode()
    + b"\0" + json.dumps(specials).encode())
