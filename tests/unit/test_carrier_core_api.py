"""Each service's carrier_core names (services/<svc>/carrier_core_api.txt) still exist, and
the service's code uses no carrier_core name its list lacks (tests/carrier_core_api.py)."""

from __future__ import annotations

import ast

import pytest

from tests.carrier_core_api import exists, listed, main, used, used_in
from tests.suites import SERVICES


@pytest.mark.parametrize("service", SERVICES)
def test_every_listed_name_exists_in_carrier_core(service: str) -> None:
    missing = sorted(name for name in listed(service) if not exists(name))
    assert missing == [], f"carrier_core no longer has what {service} uses: {missing}"


@pytest.mark.parametrize("service", SERVICES)
def test_the_code_uses_only_listed_names(service: str) -> None:
    unlisted = sorted(used(service) - listed(service))
    assert unlisted == [], f"services/{service} uses carrier_core names missing from its carrier_core_api.txt: {unlisted}"


@pytest.mark.parametrize("service", SERVICES)
def test_the_list_names_nothing_unused(service: str) -> None:
    assert sorted(listed(service) - used(service)) == []


def test_a_rename_is_caught() -> None:
    assert exists("carrier_core.signature.FormPairs")
    assert exists("carrier_core.status.store")
    assert not exists("carrier_core.signature.FormPairsRenamed")
    assert not exists("carrier_core.no_such_module.name")


def test_what_counts_as_a_use() -> None:
    tree = ast.parse(
        "import carrier_core.phone\n"
        "from carrier_core import status as st\n"
        "from carrier_core.settings import Settings as S\n"
        "def f():\n"
        "    from carrier_core.health import check_tables\n"
        "    return carrier_core.phone.normalize, st.machine.rule_of, S.from_env\n"
    )
    assert used_in(tree) == {
        "carrier_core.phone",
        "carrier_core.phone.normalize",
        "carrier_core.status",
        "carrier_core.status.machine",
        "carrier_core.status.machine.rule_of",
        "carrier_core.settings.Settings",
        "carrier_core.health.check_tables",
    }


def test_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nope"]) == 2
    assert main(["inbound"]) == 0
    assert "carrier_core.signature.FormPairs" in capsys.readouterr().out.split()
