"""A deviation's text in compliance.md and on the console (DECISIONS 118): the part about one requirement,
whole; a tag quoted inside a message does not cut it; a walk's shrunk sequence and reproducer follow as a block."""

from __future__ import annotations

from pytest_rec.report.reasons import deviation_lines, deviation_md, message_for

WALK = ('[REC-TENANT-ALLOW] the tenant user on session 6 of its own tenant: [REC-ACCEPT] a valid change was refused '
        'with 403: {"message": "tenant-remembered"}\nwalk tenant user, sessions 6 and 12 (seed 1): 6 step(s); shrunk '
        'to 2 step(s)\n 1. tenant session 12 PATCH {"split_mode": "Manual"}: expected refused\n'
        'reproducer: reports/reproducers/REC-TENANT-ALLOW-1.sh')


def test_a_tag_quoted_inside_a_message_does_not_cut_it():
    msg = message_for(WALK, "REC-TENANT-ALLOW")
    first, _, rest = msg.partition("\n")
    assert first.endswith('refused with 403: {"message": "tenant-remembered"}')
    assert rest.splitlines()[-1] == "reproducer: reports/reproducers/REC-TENANT-ALLOW-1.sh"


def test_one_requirement_of_several_and_repeats_joined():
    detail = "[REC-RESPONSE] job_href is 'a'; [REC-ACCEPT] the job ended Error; [REC-RESPONSE] job_href is 'b'"
    assert message_for(detail, "REC-RESPONSE") == "job_href is 'a'; job_href is 'b'"
    assert message_for(detail, "REC-ACCEPT") == "the job ended Error"
    assert message_for("no tag at all", "REC-ACCEPT") == "no tag at all"


def test_compliance_md_keeps_the_walk_block_under_its_entry():
    g = {"requirement": "REC-TENANT-ALLOW", "count": 1, "example": "test_walk_tenant",
         "message": message_for(WALK, "REC-TENANT-ALLOW")}
    md = deviation_md([g])
    assert md[0].startswith("- **REC-TENANT-ALLOW**: 1 case(s), e.g. `test_walk_tenant` — the tenant user")
    assert "  ```text" in md and "  reproducer: reports/reproducers/REC-TENANT-ALLOW-1.sh" in md
    assert all(line.startswith("  ") or not line for line in md[1:])     # the block stays inside the list item
    console = "\n".join(deviation_lines([g], 100))
    assert "tenant-remembered" in console and "REC-TENANT-ALLOW-1.sh" in console
