"""Text from callers reaches logs, answers and the directory: bounded, linear to process, and never a look-alike
or another domain than the one the caller wrote."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

import pytest

from shared.email_address import check_email
from shared.logging_setup import LOGGER_NAME, MAX_FIELD_CHARS, log_event, mask_email
from shared.settings import Settings, SettingsError
from tests.conftest import ROOT


# ---- masking is linear ----------------------------------------------------------------------------------------
def test_masking_two_megabytes_of_hostile_text_stays_far_inside_a_cpu_limit():
    """The old pattern backtracked from every start of a long run: 60 KB took 5 s, so these 2 MB inputs would take
    hours. A child process with a 20 s CPU limit (a linear pass takes well under 1 s here) is killed otherwise."""
    script = textwrap.dedent("""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_CPU, (20, 20))
        sys.path.insert(0, sys.argv[1])
        from shared.logging_setup import mask_email
        n = 2_000_000
        for text in ("a" * n, "a" * n + "@", "a@" * (n // 2), "x@" + "b." * (n // 2) + "1", "." * n, "-@" * (n // 2)):
            mask_email(text)
        print("done")
    """)
    done = subprocess.run([sys.executable, "-c", script, str(ROOT)], capture_output=True, text=True, timeout=120,  # noqa: S603 (our own script)
                          check=False)
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr[-500:]


@pytest.mark.parametrize(("text", "masked"), [
    ("alice@fabrikam.com", "a***@fabrikam.com"),
    ("to o'brien@fabrikam.com, bob@x.example.", "to o***@fabrikam.com, b***@x.example."),
    ("<carol.smith+tag@sub.contoso.co.uk>", "<c***@sub.contoso.co.uk>"),
    ("a@b@c.com", "a@b***@c.com"),
    ("no address @ all", "no address @ all"),
])
def test_masking_still_finds_every_address(text, masked):
    assert mask_email(text) == masked


# ---- what a record carries is bounded -------------------------------------------------------------------------
def _last_record(caplog):
    record = [r for r in caplog.records if r.name == LOGGER_NAME][-1]
    return record, json.loads(record.getMessage().split(" ", 1)[1])


def test_a_long_field_is_cut_and_says_how_much_was_left_out(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    log_event("test.long", value="x" * 100_000, names=[f"n{i}" for i in range(10_000)])
    record, fields = _last_record(caplog)
    assert len(record.getMessage()) < 4 * MAX_FIELD_CHARS
    assert fields["value"].startswith("x" * MAX_FIELD_CHARS) and fields["value"].endswith(f"(+{100_000 - 512} chars)")
    assert len(fields["names"]) == 21 and fields["names"][-1] == "…(+9980 more)"


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\u0085", "\u009b", "\u202e", "\u2066", "\ufeff"])
def test_characters_that_break_or_disguise_a_log_line_are_escaped(caplog, char):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    log_event("test.control", value=f"before{char}after")
    record, fields = _last_record(caplog)
    assert char not in record.getMessage()
    assert f"\\u{ord(char):04x}" in record.getMessage()
    assert fields["value"] == f"before{char}after"  # escaped, not lost: the JSON still reads back to the text


def test_thousands_of_unknown_fields_get_a_short_answer_and_a_short_log(app, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    body = {"k" * 10_000: 1} | {f"x{i:05d}": 1 for i in range(4_000)} | {"email": "alice@fabrikam.com"}
    answer = app.invite(body)  # ~62 KB: under the 64 KB body limit
    assert answer.status == 400
    errors = answer.body["errors"]
    assert len(errors) == 11 and errors[-1] == {"field": "body", "message": "has 3991 more unknown fields"}
    assert all(len(error["field"]) <= 65 for error in errors)
    assert len(json.dumps(answer.body)) < 8_000
    assert all(len(r.getMessage()) < 8 * MAX_FIELD_CHARS for r in caplog.records if r.name == LOGGER_NAME)
    assert app.graph_calls() == 0


# ---- international domains: UTS 46, one script per label --------------------------------------------------------
@pytest.mark.parametrize(("address", "normal"), [
    ("hans@straße.de", "hans@xn--strae-oqa.de"),  # IDNA 2003 made this strasse.de: another domain
    ("x@faß.de", "x@xn--fa-hia.de"),
    ("x@Bücher.DE", "x@xn--bcher-kva.de"),
    ("x@例え.jp", "x@xn--r8jz45g.jp"),
    ("x@пример.рф", "x@xn--e1afmkfd.xn--p1ai"),
    ("x@xn--strae-oqa.de", "x@xn--strae-oqa.de"),
])
def test_international_domains_take_their_idna2008_form(address, normal):
    assert check_email(address) == (normal, None)


@pytest.mark.parametrize(("address", "why"), [
    ("x@\u0430\u0440\u0440le.com", "mixes scripts (cyrillic, latin) in one label"),
    ("x@\u0430\u0440\u0440\u04cf\u0435.com", "imitate Latin"),
    ("x@xn--80ak6aa92e.com", "imitate Latin"),  # the same look-alike, already encoded
    ("x@xn--zz.com", "not valid IDNA 2008"),
    ("x@ab\u200d.com", "not a valid internationalised domain name"),
])
def test_look_alike_and_malformed_international_domains_are_refused(address, why):
    normal, problem = check_email(address)
    assert normal is None and why in problem and problem.startswith("the domain after '@'")


def test_a_blocked_international_domain_blocks_its_own_spelling_only(app):
    app.configure(BLOCKED_EMAIL_DOMAINS="straße.de")
    refused = app.invite({"email": "hans@straße.de"})
    assert refused.status == 403 and app.graph_calls() == 0
    assert app.invite({"email": "hans@strasse.de"}).status == 201  # a different domain, not blocked


def test_a_look_alike_domain_in_a_domain_setting_is_refused_naming_the_setting():
    with pytest.raises(SettingsError, match="BLOCKED_EMAIL_DOMAINS"):
        Settings.from_env({"BLOCKED_EMAIL_DOMAINS": "\u0430\u0440\u0440\u04cf\u0435.com"})
