"""`invite`'s New-MgInvitation options (--cc, --language, --message, --resend, --no-email), --json on invite, and
--version (issue 16.3)."""

from __future__ import annotations

import json

import pytest

from guest_cli import build_parser, version
from simulator import Simulator
from simulator.graph import models
from tests.cli.test_invite import invite

PARTNERS = models.PARTNERS_GROUP_ID


def test_cc_and_language_reach_the_invitation(tenant: Simulator) -> None:
    code, _, err = invite("ana@fabrikam.com", "--cc", "boss@fabrikam.com", "--language", "de-DE")
    assert code == 0, err
    info = tenant.graph.invitations[-1]["invitedUserMessageInfo"]
    assert info["messageLanguage"] == "de-DE"
    assert [cc["emailAddress"]["address"] for cc in info["ccRecipients"]] == ["boss@fabrikam.com"]
    assert tenant.graph.emails_to("boss@fabrikam.com") == 1 and tenant.graph.emails_to("ana@fabrikam.com") == 1


def test_resend_invites_a_pending_guest_again_and_without_it_nothing_is_sent(tenant: Simulator) -> None:
    code, out, _ = invite(models.PENDING_GUEST_MAIL)
    assert code == 0 and "already in the directory" in out
    assert tenant.stats.count(service="graph", method="POST", path=r"/invitations$") == 0
    code, out, _ = invite(models.PENDING_GUEST_MAIL, "--resend", "--message", "Second try")
    assert code == 0 and f"Invited {models.PENDING_GUEST_MAIL}" in out
    assert tenant.graph.invitations[-1]["invitedUserMessageInfo"]["customizedMessageBody"] == "Second try"


@pytest.mark.parametrize(("argv", "shown"), [(("--cc", "not an address"), "--cc 'not an address'"),
                                             (("--cc", "a@fabrikam.com", "--cc", "b@fabrikam.com"), "--cc"),
                                             (("--language", "not a language!"), "--language")])
def test_bad_options_are_named_and_nothing_is_sent(tenant: Simulator, argv: tuple[str, ...], shown: str) -> None:
    code, _, err = invite("ana@fabrikam.com", *argv)
    assert code == 2 and f"error: {shown}" in err
    assert tenant.stats.count(service="graph") == 0


def test_invite_json_prints_one_object_with_the_outcome(tenant: Simulator) -> None:
    code, out, err = invite("json.guest@fabrikam.com", "--group", PARTNERS, "--no-email", "--json")
    assert code == 0, err
    report = json.loads(out)  # stdout holds the JSON object only; the human lines went to stderr
    user = tenant.graph.user_by_mail("json.guest@fabrikam.com")
    assert report["userId"] == user["id"] and report["invited"] is True and report["emailed"] is False
    assert report["groups"] == {PARTNERS: "added"} and report["exitCode"] == 0
    assert report["inviteRedeemUrl"].startswith("https://") and "Invited json.guest@fabrikam.com" in err


def test_invite_json_on_bad_options_lists_them(tenant: Simulator) -> None:
    code, out, _ = invite("ana@fabrikam.com", "--cc", "nope", "--json")
    report = json.loads(out)
    assert code == 2 and report["exitCode"] == 2 and report["errors"][0]["option"] == "--cc"
    assert tenant.stats.count(service="graph") == 0


def test_invite_json_on_a_refusal_carries_the_problem(tenant: Simulator) -> None:
    tenant.graph.invitations_allowed = False
    code, out, _ = invite("refused@fabrikam.com", "--json")
    report = json.loads(out)
    assert code == 3 and report["exitCode"] == 3 and report["problem"]["status"] >= 400


def test_version_is_pyprojects(capsys: pytest.CaptureFixture[str]) -> None:
    import tomllib
    from pathlib import Path

    expected = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]["version"]
    assert version() == expected
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip().endswith(f" {expected}")


def test_a_resend_whose_answer_was_lost_exits_3_saying_when_to_run_it_again(tenant: Simulator) -> None:
    tenant.faults.add(service="graph", method="POST", path=r"/invitations$", drop_after=True, times=1)
    code, _, err = invite(models.PENDING_GUEST_MAIL, "--resend")
    assert code == 3 and "The invitation's outcome is not known yet" in err
    assert "run it again in 30 s or later" in err  # the Retry-After the HTTP API would send
    assert tenant.stats.count(service="graph", method="POST", path=r"/invitations$") == 1
