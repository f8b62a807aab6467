"""Reading the portal's bulk-invite template and the plain CSV: headings, line numbers, BOM, quoting, blank lines."""

from __future__ import annotations

from guest_cli.bulk.csv_formats import PLAIN, PORTAL, decode_csv_bytes, parse_csv_text
from guest_cli.bulk.row_requests import validate_rows

PARTNERS = "1b5e0c9a-0000-4000-8000-000000000001"
FALCON = "1b5e0c9a-0000-4000-8000-000000000002"
PORTAL_HEADER = ("Email address to invite [inviteeEmail] Required,Redirection url [inviteRedirectURL] Required,"
                 "Send invitation message (true or false) [sendEmail],"
                 "Customized invitation message [customizedMessageBody]")


def test_portal_template_rows_become_requests_with_spreadsheet_line_numbers() -> None:
    text = (f"version:v1.0\n{PORTAL_HEADER}\n"
            "alice@fabrikam.com,https://myapplications.microsoft.com,true,Welcome\n"
            "\n"
            "bob@fabrikam.com,https://contoso.sharepoint.com/sites/x,false,\n")
    csv_file = parse_csv_text(text)
    rows, problems = validate_rows(csv_file)
    assert csv_file.format == PORTAL and problems == []
    assert [(row.line, row.request.email) for row in rows] == [(3, "alice@fabrikam.com"), (5, "bob@fabrikam.com")]
    assert rows[0].request.send_invitation_message is True and rows[0].request.message == "Welcome"
    assert rows[1].request.send_invitation_message is False
    assert rows[1].request.redirect_url == "https://contoso.sharepoint.com/sites/x"


def test_portal_template_reads_invitee_name_and_group_ids_and_trailing_empty_columns() -> None:
    text = (f"version:v1.0,,,,,\n{PORTAL_HEADER},Name of invitee [inviteeName],Groups [groupIds],\n"
            f'alice@fabrikam.com,https://myapplications.microsoft.com,,,Alice Smith,"{PARTNERS};{FALCON}",\n')
    rows, problems = validate_rows(parse_csv_text(text))
    assert problems == []
    assert rows[0].request.display_name == "Alice Smith"
    assert rows[0].request.group_ids == (PARTNERS, FALCON)


def test_excel_utf8_bom_and_utf16_files_are_read() -> None:
    text = f"version:v1.0\n{PORTAL_HEADER}\nalice@fabrikam.com,https://myapplications.microsoft.com,,\n"
    for data in (b"\xef\xbb\xbf" + text.encode("utf-8"), text.encode("utf-16")):
        rows, problems = validate_rows(parse_csv_text(decode_csv_bytes(data)))
        assert problems == [] and rows[0].request.email == "alice@fabrikam.com"


def test_plain_header_in_any_case_and_order_with_quoted_commas_and_multiline_message() -> None:
    text = ("Email,groupIds,message,displayName\n"
            f'alice@fabrikam.com,{PARTNERS},"Hello, Alice\nsee you soon",Alice\n'
            f"bob@fabrikam.com,{FALCON} {PARTNERS},,\n")
    csv_file = parse_csv_text(text)
    rows, problems = validate_rows(csv_file)
    assert csv_file.format == PLAIN and problems == []
    assert rows[0].request.message == "Hello, Alice\nsee you soon"
    assert [row.line for row in rows] == [2, 4]  # the quoted message spans lines 2 and 3
    assert rows[1].request.group_ids == (FALCON, PARTNERS)


def test_every_bad_row_is_reported_with_its_line_and_column() -> None:
    text = ("email,groupIds,sendInvitationMessage,redirectUrl\n"
            "alice@fabrikam.com,,,\n"
            "not-an-address,,,\n"
            "carol@fabrikam.com,not-a-guid,maybe,http://insecure.example\n"
            "ALICE@fabrikam.com,,,\n")
    rows, problems = validate_rows(parse_csv_text(text))
    assert [row.line for row in rows] == [2]
    described = [(p.line, p.column) for p in problems]
    assert described == [(3, "email"), (4, "sendInvitationMessage"), (4, "groupIds"), (4, "redirectUrl"),
                         (5, "email")]
    assert "same address as line 2" in problems[-1].message
    assert str(problems[0]).startswith("line 3, email: ")


def test_portal_rows_report_the_portal_heading() -> None:
    text = f"version:v1.0\n{PORTAL_HEADER}\no'brien@fabrikam.com,https://x.example,true,\nbad@@x,https://x.example,,\n"
    rows, problems = validate_rows(parse_csv_text(text))
    assert [row.request.email for row in rows] == ["o'brien@fabrikam.com"]
    assert problems[0].line == 4 and problems[0].column == "Email address to invite [inviteeEmail] Required"


def test_unknown_or_misspelt_columns_are_refused_not_ignored() -> None:
    for text in ("email,groupID\nalice@fabrikam.com,x\n",
                 f"version:v1.0\n{PORTAL_HEADER},Groups [groupID]\nalice@fabrikam.com,https://x.example,,,x\n"):
        rows, problems = validate_rows(parse_csv_text(text))
        assert rows == [] and len(problems) == 1 and "unknown column" in problems[0].message


def test_unquoted_comma_in_a_message_is_reported_as_an_extra_cell() -> None:
    text = f"version:v1.0\n{PORTAL_HEADER}\nalice@fabrikam.com,https://x.example,true,Hello, Alice\n"
    rows, problems = validate_rows(parse_csv_text(text))
    assert rows == [] and problems[0].line == 3 and "more cell" in problems[0].message


def test_group_from_the_command_line_joins_every_row_and_bad_ones_are_named() -> None:
    text = f"email,groupIds\nalice@fabrikam.com,{PARTNERS}\nbob@fabrikam.com,\n"
    rows, problems = validate_rows(parse_csv_text(text), [FALCON])
    assert problems == []
    assert [row.request.group_ids for row in rows] == [(PARTNERS, FALCON), (FALCON,)]
    _, problems = validate_rows(parse_csv_text(text), ["nope"])
    assert [(p.line, p.column) for p in problems] == [(2, "from --group"), (3, "from --group")]


def test_wrong_version_missing_email_column_and_empty_file_are_reported() -> None:
    assert "version" in validate_rows(parse_csv_text("version:v2.0\nx\n"))[1][0].message
    assert "email" in validate_rows(parse_csv_text("displayName\nAlice\n"))[1][0].message
    assert "empty" in validate_rows(parse_csv_text("\n\n"))[1][0].message
    assert "headings" in validate_rows(parse_csv_text("version:v1.0\n"))[1][0].message
    assert "no rows" in validate_rows(parse_csv_text("email,displayName\n\n"))[1][0].message
