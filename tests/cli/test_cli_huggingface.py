"""A local Hugging Face model folder on the command line (``save_pretrained``: config.json and
safetensors), with token ids, texts through the folder's tokenizer, or images; and the
refusals: pickled weights, custom code, unknown classes, wrong inputs. Tiny models built from
configs, nothing downloaded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor, nn

import xaikit
from xaikit.cli import main

transformers = pytest.importorskip("transformers")

WORDS = ["the", "cat", "dog", "sat", "ran", "on", "mat", "fast", "a", "big"]


class Reference(nn.Module):
    """The model as a test writes it by hand: token ids (or pixels) in, logits out."""

    def __init__(self, model: nn.Module, keyword: str) -> None:
        super().__init__()
        self.model, self.keyword = model, keyword

    def forward(self, x: Tensor) -> Tensor:
        extra = {"attention_mask": (x != 0).long()} if self.keyword == "input_ids" else {}
        return self.model(**{self.keyword: x}, **extra).logits  # type: ignore[no-any-return]


def run_cli(*args: object) -> int:
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, nn.Module]:
    folder = tmp_path_factory.mktemp("bert")
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=5 + len(WORDS), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=32, num_labels=3, pad_token_id=0,
    )
    model = transformers.BertForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    vocabulary = folder / "vocab.txt"
    vocabulary.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    transformers.BertTokenizerFast(vocab_file=str(vocabulary)).save_pretrained(folder)
    return folder, model


def test_token_ids_give_what_the_python_api_gives(bert_folder: tuple[Path, nn.Module], tmp_path: Path) -> None:
    folder, model = bert_folder
    ids = torch.randint(1, 5 + len(WORDS), (3, 7), generator=torch.Generator().manual_seed(1))
    np.save(tmp_path / "ids.npy", ids.numpy())
    out = tmp_path / "out"
    assert run_cli("explain", folder, tmp_path / "ids.npy", "--method", "lrp", "--option", "composite=cp_lrp",
                   "--out", out, "--no-progress") == 0
    expected = xaikit.explain(Reference(model, "input_ids"), ids, method="lrp", composite="cp_lrp")
    got = np.load(out / "attribution.npy")
    assert got.shape == (3, 7)
    np.testing.assert_allclose(got, expected.attribution.numpy(), rtol=1e-4, atol=1e-7)
    assert (out / "figures" / "tokens.png").is_file()  # the tokens drawn coloured by relevance


def test_texts_are_tokenized_by_the_folder_tokenizer(bert_folder: tuple[Path, nn.Module], tmp_path: Path) -> None:
    folder, model = bert_folder
    (tmp_path / "texts.txt").write_text("the cat sat on the mat\n\na big dog ran\n")
    out = tmp_path / "out"
    assert run_cli("explain", folder, tmp_path / "texts.txt", "--method", "saliency", "--out", out,
                   "--no-progress") == 0
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    ids = torch.as_tensor(tokenizer(["the cat sat on the mat", "a big dog ran"], padding=True)["input_ids"])
    expected = xaikit.explain(Reference(model, "input_ids"), ids, method="saliency")
    np.testing.assert_allclose(np.load(out / "attribution.npy"), expected.attribution.numpy(), rtol=1e-4, atol=1e-8)
    record = json.loads((out / "explanation.json").read_text())
    assert [s["sample"] for s in record["samples"]] == ["texts-0", "texts-1"]


def test_an_image_model_folder_reads_pictures(tmp_path: Path) -> None:
    folder = tmp_path / "vit"
    torch.manual_seed(0)
    config = transformers.ViTConfig(image_size=8, patch_size=4, num_channels=1, hidden_size=16, num_hidden_layers=1,
                                    num_attention_heads=2, intermediate_size=32, num_labels=2)
    model = transformers.ViTForImageClassification(config).eval()
    model.save_pretrained(folder)
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    generator = np.random.default_rng(0)
    for k in range(2):
        Image.fromarray(generator.integers(0, 256, (8, 8), dtype=np.uint8)).save(pictures / f"p{k}.png")
    out = tmp_path / "out"
    assert run_cli("explain", folder, pictures, "--method", "saliency", "--out", out, "--no-progress") == 0
    x = torch.stack([torch.from_numpy(np.asarray(Image.open(p), dtype=np.float32) / 255)[None]
                     for p in sorted(pictures.iterdir())])
    expected = xaikit.explain(Reference(model, "pixel_values"), x, method="saliency")
    np.testing.assert_allclose(np.load(out / "attribution.npy"), expected.attribution.numpy(), rtol=1e-4, atol=1e-7)


def test_refusals_name_the_problem_and_the_fix(bert_folder: tuple[Path, nn.Module], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    folder, model = bert_folder
    np.save(tmp_path / "ids.npy", np.ones((1, 4), dtype=np.int64))

    def error_of(model_path: Path, *inputs: Path) -> str:
        assert run_cli("explain", model_path, *(inputs or (tmp_path / "ids.npy",)), "--out", tmp_path / "o",
                       "--no-progress") == 2
        message = capsys.readouterr().err
        assert "\x1b[" not in message and message.count("\n") == 1
        return message

    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((folder / "config.json").read_text())
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")
    assert "pytorch_model.bin: pickles" in error_of(pickled)
    custom = tmp_path / "custom"
    custom.mkdir()
    config = json.loads((folder / "config.json").read_text())
    (custom / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModel": "x.Y"}}))
    (custom / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    assert "custom model code (auto_map" in error_of(custom)
    (custom / "config.json").write_text(json.dumps({**config, "architectures": ["os.system"]}))
    assert "is not a model class of transformers" in error_of(custom)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "folder without a config.json" in error_of(empty)
    picture = tmp_path / "p.png"
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(picture)
    assert "a text model takes .txt files" in error_of(folder, picture)
    np.save(tmp_path / "big.npy", np.full((1, 3), 999, dtype=np.int64))
    assert "outside the vocabulary of 15" in error_of(folder, tmp_path / "big.npy")
    np.save(tmp_path / "float.npy", np.ones((1, 3)))
    assert "token ids, an integer array" in error_of(folder, tmp_path / "float.npy")
