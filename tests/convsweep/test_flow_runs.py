"""convsweep/flow_runs.py: the closing summary a sweep prints."""

from __future__ import annotations

from convsweep import flow_runs


def _sweep_folder(tmp_path, files: list[str]) -> dict:
    """A finished sweep's result as the CLI holds it: a small sizes.csv and a manifest listing ``files``."""
    import csv
    import json

    from tests.helpers.sweep_rows import ONE, synthetic_rows

    rows = synthetic_rows(**ONE)
    with open(tmp_path / "sizes.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (tmp_path / "manifest.json").write_text(json.dumps({"files": [{"path": path} for path in files]}))
    return {
        "name": "t",
        "csv": str(tmp_path / "sizes.csv"),
        "manifest": str(tmp_path / "manifest.json"),
        "n_images": 300,
        "configurations": 1,
        "rows": len(rows),
        "task_runs": 9,
        "cached_task_runs": 0,
        "output_dir": str(tmp_path),
    }


def _printed(result: dict) -> str:
    import io

    from rich.console import Console

    out = io.StringIO()
    flow_runs._print_sweep_summary(Console(file=out, width=80), result)
    return out.getvalue()


def test_print_sweep_summary_lists_the_learned_files_and_the_accuracy_when_trained(tmp_path):
    files = ["report.html", "report.md", "sizes.csv", "summary.png", "learned.png", "learned.csv"]
    files += ["training.png", "model.keras", "measures.png", "maps/a/sobel.npy", "samples/0.png", "contact/c.png"]
    result = {**_sweep_folder(tmp_path, files), "model_test_accuracy": 0.81234, "model_test_images": 2000}
    text = _printed(result)
    assert "trained CNN: test accuracy 0.8123 on 2,000 test images" in text
    listed = " ".join(text.split("outputs in")[1].split()).split("(")[1]
    assert listed == (
        "report.html, report.md, sizes.csv, manifest.json, summary.png, learned.csv, learned.png, "
        "measures.png, model.keras, training.png, contact/, maps/, samples/)"
    )


def test_print_sweep_summary_lists_only_what_was_written_without_training(tmp_path):
    text = _printed(_sweep_folder(tmp_path, ["report.html", "report.md", "sizes.csv", "summary.png"]))
    assert "accuracy" not in text
    assert "(report.html, report.md, sizes.csv, manifest.json, summary.png)" in text
    assert all(len(line) <= 80 for line in text.splitlines() if line != str(tmp_path))  # the folder stays whole


def test_print_sweep_summary_probe_says_its_rows_and_image_counts(tmp_path):
    import csv

    result = _sweep_folder(tmp_path, ["report.html", "measures.png"])
    with open(result["csv"], newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:  # as add_measures writes them: filled on the magnitude row only
        filled = row["map"] == "sobel"
        row.update(probe_accuracy="0.81" if filled else "", probe_features="9" if filled else "")
        row.update(probe_train_images="300" if filled else "", probe_test_images="200" if filled else "")
    with open(result["csv"], "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    text = " ".join(_printed(result).split())
    assert (
        "probe: a linear probe per configuration, on its sobel rows only, fitted on 300 train images, scored on 200 test images"
        in text
    )


def test_run_failed_disk_full_without_a_file_names_the_out_folder():
    import errno

    from convsweep.flow_runs import _name_the_full_folder

    error = OSError(errno.ENOSPC, "No space left on device")
    text = _name_the_full_folder(f"OSError: {error}", error, "/data/out")
    assert text.startswith("OSError: [Errno 28] No space left on device, writing under --out /data/out")
    named = "OSError: [Errno 28] No space left on device: cannot write a.png into the folder /data/out/x"
    assert _name_the_full_folder(named, error, "/data/out") == named
    assert _name_the_full_folder("ValueError: x", ValueError("x"), "/data/out") == "ValueError: x"


def test_samples_drawn_default_samples_on_a_small_dataset_are_silent():
    import io

    from rich.console import Console

    from convsweep.flow_runs import _samples_drawn

    stream = io.StringIO()
    console = Console(file=stream, width=200)
    assert _samples_drawn(console, [0, 1, 2, 3], 2) is True
    assert stream.getvalue() == ""
    assert _samples_drawn(console, [0, 5], 2) is True
    assert "warning: samples 5: past the 2 selected images" in stream.getvalue()
