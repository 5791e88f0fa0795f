"""tasks/model/records.py: the typed records, parsed once from their JSON form."""

from __future__ import annotations

import json

import pytest

from convsweep.tasks.model import parse_parameters
from convsweep.tasks.model.records import ChunkRecord, DatasetRecord, MapStats, Selection, json_default

DATASET = dict(
    spec="fashion_mnist",
    split="test",
    selection={"split": "test", "start": None, "stop": 100, "limit": None, "classes": ["Sneaker", 7]},
    n=20,
    height=28,
    width=28,
    fingerprint="f" * 64,
    source="keras",
    class_names=["T-shirt/top", "Trouser"],
)


def test_dataset_record_round_trips_through_json_with_class_names_in_the_selection():
    record = DatasetRecord.parse(DATASET)
    assert record.selection.classes == ("Sneaker", 7) and record.image_shape == (28, 28)
    assert DatasetRecord.parse(json.loads(json.dumps(record.to_json()))) == record
    assert DatasetRecord.parse(record) is record  # a record is taken as it is


def test_selection_arguments_are_what_the_parameters_select():
    settings = parse_parameters(dataset="sample", stop=100, classes="Sneaker,7")
    arguments = settings.selection()
    assert arguments == Selection.parse(arguments).arguments()
    assert arguments["classes"] == ["Sneaker", 7]


def test_record_refuses_a_missing_or_unknown_field_naming_it():
    with pytest.raises(ValueError, match="fingerprint"):
        DatasetRecord.parse({key: value for key, value in DATASET.items() if key != "fingerprint"})
    with pytest.raises(ValueError, match="palette"):
        DatasetRecord.parse({**DATASET, "palette": True})


def test_dataset_record_json_names_colour_only_for_a_colour_selection():
    grey = DatasetRecord.parse(DATASET)
    assert "colour" not in grey.to_json()  # grey records and the keys built on them as before channels
    colour = DatasetRecord.parse({**DATASET, "colour": True})
    assert colour.to_json()["colour"] is True
    assert DatasetRecord.parse(colour.to_json()) == colour


def test_chunk_record_json_is_what_a_cached_result_holds():
    stats = MapStats(conv_shape=(26, 26), pool_shape=(13, 13), count=169, mean=1.5, m2=2.0, min=0, max=3, zeros=4)
    record = ChunkRecord(chunk=(0, 8), input_shape=(28, 28), maps={"sobel_h": {"max2-s2-pvalid": stats}}, seconds=0.5)
    text = json.dumps(record, default=json_default)  # as Prefect's result serializer writes it
    assert "__class__" not in text
    assert ChunkRecord.parse(json.loads(text)) == record
    with pytest.raises(TypeError):
        json.dumps(object(), default=json_default)
