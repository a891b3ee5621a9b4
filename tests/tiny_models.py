"""Tiny random transformers classifiers built in code (no downloads), for tests."""

from __future__ import annotations

import torch


def _seeded(build, seed: int):
    torch.manual_seed(seed)
    return build().eval()


def tiny_bert(seed: int = 0, vocab_size: int = 30522):
    from transformers import BertConfig, BertForSequenceClassification

    cfg = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=2,
    )
    return _seeded(lambda: BertForSequenceClassification(cfg), seed)


def tiny_distilbert(seed: int = 0, vocab_size: int = 30522):
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    cfg = DistilBertConfig(
        vocab_size=vocab_size,
        dim=32,
        n_layers=2,
        n_heads=2,
        hidden_dim=64,
        max_position_embeddings=128,
        num_labels=2,
    )
    return _seeded(lambda: DistilBertForSequenceClassification(cfg), seed)


def tiny_roberta(seed: int = 0):
    from transformers import RobertaConfig, RobertaForSequenceClassification

    cfg = RobertaConfig(
        vocab_size=1000,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=130,
        num_labels=2,
    )
    return _seeded(lambda: RobertaForSequenceClassification(cfg), seed)


def tiny_qwen2(seed: int = 0, vocab_size: int = 1000, pad_token_id: int = 0):
    from transformers import Qwen2Config, Qwen2ForSequenceClassification

    cfg = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=2,
        pad_token_id=pad_token_id,
    )
    return _seeded(lambda: Qwen2ForSequenceClassification(cfg), seed)


def tiny_llama(seed: int = 0, vocab_size: int = 1000, pad_token_id: int = 0):
    from transformers import LlamaConfig, LlamaForSequenceClassification

    cfg = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=2,
        pad_token_id=pad_token_id,
    )
    return _seeded(lambda: LlamaForSequenceClassification(cfg), seed)


def perturbed(model, seed: int, scale: float = 0.01):
    """A copy of ``model`` with every float tensor moved by seeded noise ("fine-tuned")."""
    import copy

    out = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in out.state_dict().values():
            if torch.is_floating_point(t):
                t.add_(torch.randn(t.shape, generator=gen) * scale)
    return out
