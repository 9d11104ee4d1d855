"""A local Hugging Face model folder on the command line: loaded without running code.

A folder written by ``model.save_pretrained(folder)`` (``config.json`` and
``model.safetensors``) is loaded with the class its config names, from ``transformers``
itself: no ``trust_remote_code``, no custom code of the folder (``auto_map``), and weights
from safetensors files only (a ``pytorch_model.bin`` is a pickle and is refused). The
folder's tokenizer, when it has one, turns ``.txt`` inputs (one text per line) into token
ids; token ids can also be given as integer ``.npy``/``.npz`` arrays.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from xaikit.cli.errors import CLIError

INSTALL_HINT = "install the transformers extra (pip install 'xaikit[transformers]')"


def is_huggingface_folder(path: Path) -> bool:
    """Whether ``path`` is a folder holding a Hugging Face ``config.json``."""
    return path.is_dir() and (path / "config.json").is_file()


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[Any]:
    """transformers without its progress bars and info logs, restored afterwards."""
    try:
        import transformers
    except ImportError as error:
        raise CLIError(f"a Hugging Face model folder needs transformers ({error}); {INSTALL_HINT}") from None
    logging = transformers.utils.logging
    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield transformers
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def _architecture(folder: Path, transformers: Any) -> Any:
    """The model class the folder's config names, taken from transformers itself."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CLIError(f"cannot read {str(folder / 'config.json')!r}: {error}") from None
    if not isinstance(config, dict):
        raise CLIError(f"{str(folder / 'config.json')!r} is not a JSON object")
    if "auto_map" in config:
        raise CLIError(
            f"{str(folder)!r} names custom model code (auto_map in config.json), which would run on loading; "
            "xaikit loads only architectures that ship with transformers"
        )
    names = config.get("architectures") or []
    if len(names) != 1 or not isinstance(names[0], str):
        raise CLIError(f"{str(folder / 'config.json')!r} must name one architecture (its 'architectures' list): {names}")
    cls = getattr(transformers, names[0], None)
    if not (isinstance(cls, type) and issubclass(cls, transformers.PreTrainedModel)):
        raise CLIError(f"architecture {names[0]!r} of {str(folder)!r} is not a model class of transformers "
                       f"{transformers.__version__}")
    return cls


def load_huggingface_folder(folder: Path) -> HuggingFaceLogits:
    """Load the model of a ``save_pretrained`` folder, safetensors weights only.

    Parameters
    ----------
    folder : Path
        Holds ``config.json`` and ``model.safetensors`` (or its shards and their index).

    Returns
    -------
    HuggingFaceLogits
        The model in eval mode, returning logits (a language model's for the next token).

    Raises
    ------
    CLIError
        If transformers is missing, the folder names custom code or an unknown class, or
        holds pickled weights only.
    """
    if not any(folder.glob("*.safetensors")):
        pickled = sorted(p.name for p in folder.glob("*.bin"))
        found = f" (it has {', '.join(pickled)}: pickles, which can run code when loaded)" if pickled else ""
        raise CLIError(
            f"{str(folder)!r} holds no .safetensors weights{found}; save with "
            "model.save_pretrained(folder) (safetensors by default) and try again"
        )
    with _quiet_transformers() as transformers:
        cls = _architecture(folder, transformers)
        try:
            model = cls.from_pretrained(str(folder), local_files_only=True, use_safetensors=True,
                                        trust_remote_code=False)
        except (OSError, ValueError, RuntimeError) as error:
            first = (str(error).strip().splitlines() or [""])[0][:200]
            raise CLIError(f"cannot load the Hugging Face model in {str(folder)!r}: {first}") from None
        tokenizer = None
        with contextlib.suppress(Exception):  # no tokenizer files: token ids must be given
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True,
                                                                   trust_remote_code=False)
    return HuggingFaceLogits(model.eval(), tokenizer)


class HuggingFaceLogits(nn.Module):
    """A transformers model as a function of one tensor: token ids, pixels or embeddings.

    Integer inputs are token ids (with an attention mask that leaves out the padding
    token, when the config has one); floating inputs are passed as the model's main input
    (``pixel_values``) or, for text models, as ``inputs_embeds``. A causal language
    model returns the logits of the token after the last position.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        The model.
    tokenizer : transformers tokenizer, optional
        Turns texts into token ids for :meth:`tokenize`.
    """

    def __init__(self, model: nn.Module, tokenizer: Any = None) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.main_input = str(getattr(model, "main_input_name", "input_ids"))
        self.pad_token_id = getattr(model.config, "pad_token_id", None)

    @property
    def takes_token_ids(self) -> bool:
        """Whether the model reads token ids (a text model)."""
        return self.main_input == "input_ids"

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(N, classes)`` (or ``(N, vocabulary)`` for the next token)."""
        if not x.is_floating_point():
            mask = None if self.pad_token_id is None else (x != self.pad_token_id).long()
            logits: Tensor = self.model(input_ids=x, attention_mask=mask).logits
        elif self.takes_token_ids:
            logits = self.model(inputs_embeds=x).logits
        else:
            logits = self.model(**{self.main_input: x}).logits
        if logits.ndim == 3:  # a language model: the distribution of the next token
            return logits[:, -1]
        return logits

    def tokenize(self, texts: list[str]) -> tuple[np.ndarray, list[list[str]]]:
        """Token ids ``(N, T)`` of ``texts`` (padded to the longest) and their token strings."""
        if self.tokenizer is None:
            raise CLIError("the model folder has no tokenizer files; give token ids as an integer .npy array")
        encoded = self.tokenizer(texts, padding=True, return_tensors="np")
        ids = np.asarray(encoded["input_ids"], dtype=np.int64)
        return ids, [self.tokenizer.convert_ids_to_tokens(row.tolist()) for row in ids]


def token_ids(array: np.ndarray, model: HuggingFaceLogits, source: str) -> torch.Tensor:
    """An integer array checked as token ids of ``model``'s vocabulary."""
    if array.dtype.kind not in "iu":
        raise CLIError(f"{source}: a text model takes token ids, an integer array (got {array.dtype})")
    vocabulary = int(getattr(model.model.config, "vocab_size", 0) or 0)
    if array.size and (array.min() < 0 or (vocabulary and array.max() >= vocabulary)):
        raise CLIError(f"{source}: token ids range over [{array.min()}, {array.max()}], outside the "
                       f"vocabulary of {vocabulary}")
    return torch.from_numpy(array.astype(np.int64))


def _read_ids(path: Path) -> np.ndarray:
    """The array of a ``.npy`` file, or the one array of an ``.npz`` file; never unpickled."""
    try:
        if path.suffix.lower() == ".npy":
            return np.asarray(np.load(path, allow_pickle=False))
        with np.load(path, allow_pickle=False) as archive:
            if len(archive.files) != 1:
                raise CLIError(f"{str(path)!r} holds arrays {archive.files}; keep only the token ids")
            return np.asarray(archive[archive.files[0]])
    except (ValueError, OSError, EOFError) as error:
        raise CLIError(f"cannot read array file {str(path)!r}: {error}") from None


def read_token_inputs(
    paths: list[Path], model: HuggingFaceLogits
) -> tuple[torch.Tensor, list[str], list[list[str]] | None]:
    """Token ids from ``.txt`` files (one text per line, tokenized by the folder's tokenizer)
    or integer ``.npy``/``.npz`` arrays (rows are samples).

    Returns
    -------
    ids : torch.Tensor
        ``(N, T)`` int64 token ids, texts padded to the longest.
    names : list of str
        One name per sample (file stem and line or row).
    tokens : list of list of str or None
        The token strings of each sample, when a tokenizer is known.
    """
    if not paths:
        raise CLIError("no input files given")
    batches: list[torch.Tensor] = []
    names: list[str] = []
    texts: list[str] = []
    for path in paths:
        if not path.is_file():
            raise CLIError(f"input file {str(path)!r} does not exist")
        suffix = path.suffix.lower()
        if suffix == ".txt":
            try:
                lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
            except (OSError, UnicodeDecodeError) as error:
                raise CLIError(f"cannot read text file {str(path)!r}: {error}") from None
            kept = [line for line in lines if line]
            if not kept:
                raise CLIError(f"text file {str(path)!r} holds no text (one text per line)")
            texts.extend(kept)
            names.extend(f"{path.stem}-{i}" for i in range(len(kept)))
        elif suffix in (".npy", ".npz"):
            array = _read_ids(path)
            array = array[None] if array.ndim == 1 else array
            if array.ndim != 2:
                raise CLIError(f"{str(path)!r}: token ids must be (samples, tokens), got shape {array.shape}")
            batches.append(token_ids(array, model, str(path)))
            names.extend(f"{path.stem}-{i}" for i in range(array.shape[0]))
        else:
            raise CLIError(f"{str(path)!r}: a text model takes .txt files (one text per line) or integer "
                           ".npy/.npz token ids")
    if texts and batches:
        raise CLIError("give either .txt texts or token-id arrays, not both")
    if texts:
        ids, text_tokens = model.tokenize(texts)
        return token_ids(ids, model, "the tokenized texts"), names, text_tokens
    lengths = {batch.shape[1] for batch in batches}
    if len(lengths) != 1:
        raise CLIError(f"token-id arrays of different lengths {sorted(lengths)}; pad them to one length")
    joined = torch.cat(batches)
    if model.tokenizer is None:
        return joined, names, None
    return joined, names, [model.tokenizer.convert_ids_to_tokens(row.tolist()) for row in joined]
