"""The results file: appended and flushed per row, read back for resume, compacted at the end."""

from __future__ import annotations

import pytest

from guest_cli.bulk.results import (
    COLUMNS,
    DONE,
    FAILED,
    LEGACY_COLUMNS,
    PENDING,
    ResultsFile,
    ResultsFileError,
    RowResult,
)

USER = "2c6f1dab-0000-4000-8000-0000000000aa"
GROUP = "1b5e0c9a-0000-4000-8000-000000000001"


def test_each_record_is_on_disk_before_the_file_is_closed(tmp_path) -> None:
    path = tmp_path / "out.csv"
    results = ResultsFile(path).open()
    results.record(RowResult(3, "alice@fabrikam.com", user_id=USER, groups={GROUP: "added"}).with_status())
    lines = path.read_text(encoding="utf-8").splitlines()  # read while still open: flushed per row
    assert lines[0] == ",".join(COLUMNS)
    assert lines[1].startswith(f"3,alice@fabrikam.com,done,,{USER},,{GROUP}=added,")
    results.close()


def test_the_last_record_of_a_row_wins_and_keys_ignore_address_case(tmp_path) -> None:
    path = tmp_path / "out.csv"
    with ResultsFile(path) as results:
        results.record(RowResult(3, "Alice@fabrikam.com", invitation="invited", user_id=USER,
                                 groups={GROUP: "pending"}).with_status())
        results.record(RowResult(3, "Alice@fabrikam.com", invitation="invited", user_id=USER,
                                 groups={GROUP: "added"}).with_status())
        results.record(RowResult(4, "bob@fabrikam.com", error="403 Forbidden").with_status())
    history = ResultsFile(path).load()
    assert history[(3, "alice@fabrikam.com")].status == DONE
    assert history[(3, "alice@fabrikam.com")].invitation == "invited"
    assert history[(4, "bob@fabrikam.com")].status == FAILED


def test_settle_is_done_only_with_a_user_and_every_group_in() -> None:
    assert RowResult(2, "a@b.example", user_id=USER, groups={GROUP: "already-member"}).with_status().status == DONE
    assert RowResult(2, "a@b.example", user_id=USER, groups={GROUP: "pending"}).with_status().status == PENDING
    assert RowResult(2, "a@b.example", user_id=USER, groups={GROUP: "failed"}).with_status().status == FAILED
    assert RowResult(2, "a@b.example", error="boom").with_status().status == FAILED


def test_a_line_cut_short_by_a_crash_is_ignored_and_the_next_run_appends_on_a_fresh_line(tmp_path) -> None:
    path = tmp_path / "out.csv"
    with ResultsFile(path) as results:
        results.record(RowResult(2, "alice@fabrikam.com", user_id=USER).with_status())
    with path.open("a", encoding="utf-8", newline="") as handle:
        handle.write("3,bob@fabrikam.com,do")  # the process died here
    assert set(ResultsFile(path).load()) == {(2, "alice@fabrikam.com")}
    with ResultsFile(path) as results:
        results.record(RowResult(3, "bob@fabrikam.com", user_id=USER).with_status())
    assert ResultsFile(path).load()[(3, "bob@fabrikam.com")].status == DONE


def test_compact_leaves_one_line_per_row_in_file_order(tmp_path) -> None:
    path = tmp_path / "out.csv"
    results = ResultsFile(path).open()
    results.record(RowResult(5, "bob@fabrikam.com", user_id=USER).with_status())
    results.record(RowResult(2, "alice@fabrikam.com", user_id=USER, groups={GROUP: "pending"}).with_status())
    results.record(RowResult(2, "alice@fabrikam.com", user_id=USER, groups={GROUP: "added"}).with_status())
    results.close()
    results.compact([(2, "alice@fabrikam.com"), (5, "bob@fabrikam.com")])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [line.split(",")[:3] for line in lines[1:]] == [["2", "alice@fabrikam.com", "done"],
                                                           ["5", "bob@fabrikam.com", "done"]]


def test_a_file_that_is_not_a_results_file_is_refused(tmp_path) -> None:
    path = tmp_path / "invitees.csv"
    path.write_text("email,displayName\nalice@fabrikam.com,Alice\n", encoding="utf-8")
    with pytest.raises(ResultsFileError, match="not a results file"):
        ResultsFile(path).load()


def test_the_request_id_is_written_before_updated_at_and_read_back(tmp_path) -> None:
    path = tmp_path / "out.csv"
    with ResultsFile(path) as results:
        results.record(RowResult(2, "alice@fabrikam.com", user_id=USER, request_id="bulk-row.2:a").with_status())
    assert COLUMNS[-2:] == ("requestId", "updatedAt")  # a line cut short before updatedAt has no partial id
    assert ResultsFile(path).load()[(2, "alice@fabrikam.com")].request_id == "bulk-row.2:a"


def test_a_results_file_without_the_request_id_column_loads_and_is_rewritten_before_appending(tmp_path) -> None:
    path = tmp_path / "out.csv"
    path.write_text(",".join(LEGACY_COLUMNS) + "\r\n"
                    + f"2,alice@fabrikam.com,done,invited,{USER},,{GROUP}=added,,2026-11-30T10:00:00Z\r\n"
                    + f"3,bob@fabrikam.com,pending,invited,{USER},,{GROUP}=pending,,2026-11-30T10:00:01Z\r\n",
                    encoding="utf-8")
    results = ResultsFile(path)
    history = results.load()
    assert history[(2, "alice@fabrikam.com")].status == DONE and history[(2, "alice@fabrikam.com")].request_id == ""
    assert history[(3, "bob@fabrikam.com")].user_id == USER
    with results:
        results.record(RowResult(3, "bob@fabrikam.com", user_id=USER, groups={GROUP: "added"},
                                 request_id="r-3").with_status())
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(COLUMNS)
    again = ResultsFile(path).load()
    assert again[(2, "alice@fabrikam.com")].status == DONE
    assert again[(3, "bob@fabrikam.com")].status == DONE and again[(3, "bob@fabrikam.com")].request_id == "r-3"


def test_a_request_id_cell_that_is_not_a_request_id_is_dropped(tmp_path) -> None:
    path = tmp_path / "out.csv"
    path.write_text(",".join(COLUMNS) + "\r\n"
                    + f"2,alice@fabrikam.com,pending,invited,{USER},,{GROUP}=pending,,{'x' * 129},2026-11-30T10:00Z\r\n"
                    + f"3,bob@fabrikam.com,pending,invited,{USER},,{GROUP}=pending,,a b,2026-11-30T10:00Z\r\n",
                    encoding="utf-8")
    history = ResultsFile(path).load()
    assert history[(2, "alice@fabrikam.com")].request_id == "" and history[(3, "bob@fabrikam.com")].request_id == ""
