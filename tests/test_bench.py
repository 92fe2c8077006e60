"""`ordertrail bench` runs end to end and prints the JSON the docs describe (tiny sizes: this
checks the command, never a timing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ordertrail.adapters.cli import app


def test_bench_prints_medians_and_baselines_as_json() -> None:
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "--suite",
            "core",
            "--suite",
            "tape",
            "--suite",
            "projections",
            "--projection-events",
            "600",
            "--incremental-events",
            "500",
            "--fills",
            "400",
            "--orders",
            "300",
            "--events",
            "3000",
            "--tape-messages",
            "40",
            "--repeats",
            "1",
            "--settle",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    fill = report["apply_in_memory"]["fill"]
    assert fill["events"] == 300 * fill["events_per_order"]
    assert fill["events_per_s"] > 0
    rebuild = report["rebuild_from_sqlite"]
    assert rebuild["events"] == 3000
    assert rebuild["baseline_sqlite_orjson"]["events"] == 3000
    assert rebuild["memory"]["orders"] > 0
    assert rebuild["memory_open_only"]["orders"] < rebuild["memory"]["orders"]
    assert set(rebuild["cpu_time_ratios"]) == {"rebuild", "states_in_hand", "open_only", "general"}
    in_hand = rebuild["rebuild_states_in_hand"]
    assert in_hand["events"] == 3000
    assert {"first_collection_cpu_s", "free_cpu_s"} <= set(in_hand)
    tape = report["tape_replay"]
    assert tape["replay_messages_per_s"] > 0
    assert tape["waited_for_load_s"] == 0  # --settle 0: the tape suite did not wait
    # Each repeat is a pair, decode only then the replay; wall and CPU ratios per pair.
    assert tape["repeats"] == 1
    assert tape["replay_vs_decode_only_paired"] == tape["replay_vs_decode_only"]
    assert tape["replay_vs_decode_only_cpu_paired"] == tape["replay_vs_decode_only_cpu"]
    assert report["projections"]["rebuild_events_per_s"] > 0
    assert report["projections"]["baseline_sqlite_orjson_events_per_s"] > 0
    # The rebuild's peak memory on the projections' store and on one of --events events.
    assert [m["events"] for m in report["projections"]["rebuild_memory"]] == [600, 3000]
    assert all(m["peak_rss_mib"] > 0 for m in report["projections"]["rebuild_memory"])
    assert set(report["projections"]["queries"]) >= {"timeline_ms", "sql_aggregate_ms"}
    scale = report["queries_at_scale"]
    assert scale["fills"] == 400
    assert set(scale["queries_after_compact"]) >= {
        "timeline_ms",
        "positions_as_of_recorded_ms",
        "positions_as_of_ib_ms",
        "sql_aggregate_ms",
    }
    incremental = report["projections"]["incremental"]
    # The incremental figure has its own sizes, apart from the rebuild's store.
    assert incremental["large"]["events"] == 10 * incremental["small"]["events"] == 5000
    assert incremental["small"]["update_cpu_s"] > 0
    assert incremental["cpu_ratio"] > 0


def test_bench_refuses_an_unknown_suite() -> None:
    result = CliRunner().invoke(app, ["bench", "--suite", "everything"])
    assert result.exit_code == 1
    assert "unknown everything" in result.output


def test_bench_refuses_an_empty_incremental_store() -> None:
    result = CliRunner().invoke(app, ["bench", "--incremental-events", "0"])
    assert result.exit_code == 1
    assert "--incremental-events must be at least 1, not 0" in result.output


def test_the_tape_bench_measures_a_recorded_tape_and_runs_one_pass(tmp_path: Path) -> None:
    from ordertrail.adapters import bench_tape

    tape = tmp_path / "bench.tape"
    bench_tape._main(["record", str(tape), "3"])
    figures = bench_tape.pairs(tape, 2)
    # Three orders, each placed, acknowledged, filled in two parts with commissions.
    assert figures["events_recorded"] == 30
    assert figures["repeats"] == 2
    assert figures["replay_vs_decode_only_cpu_paired"] > 0
    bench_tape.once("replay", tape)
    bench_tape.once("decode", tape)
    with pytest.raises(SystemExit, match="decode, replay or none"):
        bench_tape.once("everything", tape)
