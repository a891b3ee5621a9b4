"""The memory planner: shapes from a config alone, and parts that match what the library
actually holds (vectors' stored bytes, the merger's anchor) on tiny models."""

from __future__ import annotations

import copy

import pytest
import tiny_models
from test_train import HP, _rows

from taskfair import cli
from taskfair.build import HParams, LoraHParams, finetune, lora_finetune
from taskfair.compress import CompressSpec, compress_vector
from taskfair.errors import ConfigError, ModelLoadError
from taskfair.merge import Merger
from taskfair.plan import GIB, VectorSpec, model_tensors, parse_device, plan_memory
from taskfair.vectors import TaskVector


@pytest.fixture(scope="module")
def qwen_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qwen") / "cfg"
    tiny_models.tiny_qwen2().config.save_pretrained(folder)
    return folder


def test_known_shapes_give_the_published_parameter_counts():
    llama = model_tensors("meta-llama/Llama-2-7b-hf")
    # 6.74 B with the LM head (32000 x 4096 = 131 M), which a classifier replaces by 2 x 4096
    assert llama.num_params == 6_607_351_808
    assert llama.lora_targets == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert llama.head_modules == ["score"] and "hub" in llama.source
    assert model_tensors("qwen2.5-0.5b").num_params == 494_034_560  # "0.49 B"
    with pytest.raises(ModelLoadError, match="No configuration"):
        model_tensors("no-such/model-anywhere")


def test_plan_parts_match_what_the_library_holds(qwen_folder):
    tensors = model_tensors(str(qwen_folder))
    base = tiny_models.tiny_qwen2()
    assert tensors.num_params == sum(
        v.numel() for v in base.state_dict().values() if v.is_floating_point()
    )
    res = lora_finetune(base, _rows(16, 0), _rows(8, 1), HP, LoraHParams(r=4, alpha=8), seed=0)
    lora = TaskVector.from_models(base, res.model).compacted(res.factors)
    dense = TaskVector.from_models(base, tiny_models.perturbed(base, 1))
    lowrank = compress_vector(dense, CompressSpec("lowrank", rank=2, min_numel=1))
    for spec, vec in ((VectorSpec(1, "lora", rank=4), lora), (VectorSpec(1, "dense"), dense)):
        plan = plan_memory(tensors, [spec], dtype="float32", tokens=64)
        assert plan.parts[f"vectors: {spec.label}"] == vec.nbytes, spec.label
        merger = Merger(copy.deepcopy(base), {"v": vec})
        anchor = sum(t.numel() * t.element_size() for t in merger._anchor)
        assert plan.parts["anchor (touched tensors)"] == anchor, spec.label
    top1 = finetune(base, _rows(16, 0), _rows(8, 1), HParams(epochs=1, train_layers=1), seed=0)
    frozen_absent = TaskVector.from_models(base, top1.model).compacted()
    plan = plan_memory(tensors, [VectorSpec(1, "dense", layers=1)], dtype="float32", tokens=64)
    assert plan.parts["vectors: 1 × dense top-1"] == frozen_absent.nbytes
    plan = plan_memory(tensors, [VectorSpec(3, "lowrank", rank=2)], dtype="bfloat16", tokens=64)
    assert plan.parts["vectors: 3 × lowrank r=2"] == 3 * lowrank.nbytes // 2  # bf16: half
    assert plan.parts["base"] == tensors.num_params * 2
    assert plan.total == sum(plan.parts.values())


def test_plan_command_for_llama_7b(capsys):
    rc = cli.main(
        [
            "plan",
            "--model",
            "meta-llama/Llama-2-7b-hf",
            "--vectors",
            "8xlora:r=16",
            "--vectors",
            "8xdense",
            "--vectors",
            "8xlowrank:rank=64",
            "--device",
            "24GB",
            "--device",
            "80GB",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    blocks = out.split("meta-llama/Llama-2-7b-hf in bfloat16:")[1:]
    assert len(blocks) == 3
    assert "on 24 GB: fits" in blocks[0] and "on 80 GB: fits" in blocks[0]
    assert "on 80 GB: does NOT fit" in blocks[1]  # eight dense 13 GB vectors
    assert "on 80 GB: fits" in blocks[2]
    assert "12.31 GiB" in blocks[0]  # the base: 6.6 B parameters x 2 bytes


def test_plan_inputs_are_validated():
    assert parse_device("24GB") == ("24 GB", 24 * GIB)
    assert parse_device("a100-80gb")[1] == 80 * GIB
    with pytest.raises(ConfigError, match="memory size"):
        parse_device("lots")
    assert VectorSpec.parse("8xlora:r=16") == VectorSpec(8, "lora", rank=16)
    assert VectorSpec.parse("2 x sparse:density=0.05").density == 0.05
    assert VectorSpec.parse("6xdense:layers=2").layers == 2
    for bad, match in (("eight lora", "COUNTxFORM"), ("8xlora", "needs a rank"), ("8xzip", "form")):
        with pytest.raises(ConfigError, match=match):
            VectorSpec.parse(bad)
    assert cli.main(["plan", "--model", "minilm", "--vectors", "8xnope"]) == 2
