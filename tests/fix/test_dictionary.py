"""Data dictionaries: every QuickFIX XML file of the corpus loads, the FIXT merge, the
compact built-ins and their generator, custom dictionaries, and bad files."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from fixg.errors import ConfigError
from fixg.fix.dictionary import (
    BUILTIN_NAMES,
    DataDictionary,
    builtin_sources,
    load_builtin,
    xml_to_compact,
)
from fixg.fix.spec import DictionaryLike, GroupDef, MessageDef

REPO = Path(__file__).resolve().parents[2]


def _spec_dir() -> Path:
    env = os.environ.get("FIXG_FIXSPEC_DIR")
    return Path(env) if env else REPO / ".." / "shared" / "fixspec"


SPEC_DIR = _spec_dir()
needs_spec = pytest.mark.skipif(
    not (SPEC_DIR / "FIX44.xml").is_file(),
    reason=f"FIX spec corpus not found at {SPEC_DIR} (set FIXG_FIXSPEC_DIR)",
)

# file stem -> (BeginString, fields, messages) as the corpus defines them
CORPUS = {
    "FIX40": ("FIX.4.0", 138, 27),
    "FIX41": ("FIX.4.1", 206, 28),
    "FIX42": ("FIX.4.2", 405, 46),
    "FIX43": ("FIX.4.3", 635, 68),
    "FIX44": ("FIX.4.4", 912, 93),
    "FIX50": ("FIX.5.0", 1090, 93),
    "FIX50SP1": ("FIX.5.0SP1", 1373, 105),
    "FIX50SP2": ("FIX.5.0SP2", 6028, 156),
    "FIXT11": ("FIXT.1.1", 71, 8),
}

_loaded: dict[tuple[str, str | None], DataDictionary] = {}


def xml_dictionary(stem: str, transport: str | None = None) -> DataDictionary:
    """Each corpus file is parsed once per test session."""
    key = (stem, transport)
    if key not in _loaded:
        _loaded[key] = DataDictionary.from_xml(
            SPEC_DIR / f"{stem}.xml",
            transport=None if transport is None else SPEC_DIR / f"{transport}.xml",
        )
    return _loaded[key]


def all_groups(groups: dict[int, GroupDef] | object) -> Iterator[GroupDef]:
    assert hasattr(groups, "values")
    for group in groups.values():
        yield group
        yield from all_groups(group.groups)


# --------------------------------------------------------------------------- the corpus


@needs_spec
def test_corpus_is_complete() -> None:
    assert sorted(p.stem for p in SPEC_DIR.glob("*.xml")) == sorted(CORPUS)


@needs_spec
@pytest.mark.parametrize("stem", sorted(CORPUS))
def test_every_corpus_file_loads(stem: str) -> None:
    begin_string, n_fields, n_messages = CORPUS[stem]
    dd = xml_dictionary(stem)
    assert dd.begin_string == begin_string
    assert len(dd.fields) == n_fields
    assert len(dd.messages) == n_messages
    assert len(dd.fields_by_name) == n_fields
    for tag, fdef in dd.fields.items():
        assert fdef.tag == tag and fdef.type.isupper() and fdef.type
        assert dd.fields_by_name[fdef.name] is fdef
    definitions: list[MessageDef] = [dd.header, dd.trailer, *dd.messages.values()]
    for definition in definitions:
        assert definition.required <= definition.members == frozenset(definition.order)
        assert len(definition.order) == len(definition.members), "no tag twice in one scope"
        assert set(definition.groups) <= definition.members
        for tag in definition.order:
            assert tag in dd.fields
        for group in all_groups(definition.groups):
            assert group.delimiter == group.order[0]
            assert group.required <= group.members == frozenset(group.order)
            assert set(group.groups) <= group.members
            assert dd.fields[group.count_tag].type in ("NUMINGROUP", "INT")
            assert group.name == dd.fields[group.count_tag].name
    for msg_type, definition in dd.messages.items():
        assert definition.msg_type == msg_type and definition.category in ("admin", "app")
    if stem.startswith("FIX5"):  # application-only: the header comes from FIXT11.xml
        assert dd.header.order == () and dd.trailer.order == ()
        assert {m.category for m in dd.messages.values()} == {"app"}
    else:
        assert dd.header.order[:3] == (8, 9, 35)
        assert {8, 9, 35, 49, 56, 34, 52} <= dd.header.required
        assert dd.trailer.order[-1] == 10 and 10 in dd.trailer.required
        for admin in ("0", "1", "2", "3", "4", "5", "A"):
            assert dd.is_admin(admin)
    if stem != "FIXT11":
        assert dd.messages["D"].name == "NewOrderSingle" and not dd.is_admin("D")
        assert dd.field(35).enums["D"] in ("ORDER_SINGLE", "NEW_ORDER_SINGLE", "NEWORDERSINGLE")
        assert {11, 54, 40} <= dd.messages["D"].required
        assert dd.data_length_tags[95] == 96  # RawDataLength -> RawData
    assert dd.data_length_tags[93] == 89  # SignatureLength -> Signature (not tag + 1)
    assert dd.data_length_tags[90] == 91


@needs_spec
@pytest.mark.parametrize("stem", ["FIX41", "FIX42"])
def test_fix4x_groups_counted_by_int_fields(stem: str) -> None:
    dd = xml_dictionary(stem)
    lines_of_text = dd.messages["B"].groups[33]  # News: LinesOfText
    assert lines_of_text.delimiter == 58 and 58 in lines_of_text.required
    assert dd.field(33).type == "INT"
    assert 33 in dd.messages["B"].required


@needs_spec
def test_fix40_has_no_news_group() -> None:
    news = xml_dictionary("FIX40").messages["B"]
    assert news.groups == {} and {33, 58} <= news.required


@needs_spec
def test_fix44_nested_groups_and_components() -> None:
    dd = xml_dictionary("FIX44")
    order = dd.messages["D"]
    # Required-ness: the message's own required fields; Instrument is a required component
    # but QuickFIX's FIX44 makes none of its fields required.
    assert order.required == {11, 54, 60, 40}
    # A required component's required fields are required (NoLinesOfText in News), those
    # of an optional one are not (Parties' NoPartyIDs).
    assert 33 in dd.messages["B"].required and 453 not in order.required
    parties = order.groups[453]
    assert parties.name == "NoPartyIDs" and parties.delimiter == 448
    assert parties.order == (448, 447, 452, 802)
    sub = parties.groups[802]
    assert sub.name == "NoPartySubIDs" and sub.order == (523, 803)
    assert dd.group_def("D", 453) is parties
    # A group inside a component inside a group: QuoteRequest's NoRelatedSym holds the
    # Instrument component, which holds NoSecurityAltID.
    related = dd.messages["R"].groups[146]
    assert related.delimiter == 55 and 454 in related.groups
    assert related.groups[454].order == (455, 456)
    # Components flatten in order; NoLegs inside a group inside a component.
    assert dd.messages["AB"].groups[555].groups[539].order[:3] == (524, 525, 538)
    assert dd.data_length_tags[212] == 213 and dd.data_length_tags[354] == 355


@needs_spec
def test_quirks_of_the_corpus() -> None:
    # FIX43 RegistrationInstructions reaches OwnershipType(517) twice through components.
    assert xml_dictionary("FIX43").messages["o"].order.count(517) == 1
    # FIX50 NoLegs holds LegPrice twice: kept once.
    for message in xml_dictionary("FIX50").messages.values():
        for group in all_groups(message.groups):
            assert len(group.order) == len(set(group.order))
    # FIX 5.0 SP2 has groups whose first member is another group.
    sp2 = xml_dictionary("FIX50SP2")
    assign = sp2.messages["CC"].groups[1499]
    assert assign.delimiter == 453 and 453 in assign.groups
    # ... and a data field whose length field is not named after it.
    assert sp2.data_length_tags[41873] == 41874
    assert sp2.data_length_tags[43109] == 42684  # PaymentStreamFormulaLength -> XMLDATA
    assert 9 not in sp2.data_length_tags  # BodyLength measures no data field


@needs_spec
def test_fixt_with_fix50sp2() -> None:
    dd = xml_dictionary("FIX50SP2", "FIXT11")
    assert dd.begin_string == "FIXT.1.1" and dd.app_version == "FIX.5.0SP2"
    assert len(dd.messages) == 156 + 8
    assert dd.header == xml_dictionary("FIXT11").header
    assert 1128 in dd.header.members and 627 in dd.header.groups
    assert dd.is_admin("A") and dd.is_admin("5") and not dd.is_admin("D")
    assert dd.messages["A"] == xml_dictionary("FIXT11").messages["A"]
    assert dd.messages["D"] == xml_dictionary("FIX50SP2").messages["D"]
    # The transport names and types a shared tag; the allowed values are the union.
    assert dd.field(213).type == "DATA"
    assert set(dd.field(1128).enums) == {str(i) for i in range(11)}
    assert "D" in dd.field(35).enums and "A" in dd.field(35).enums
    assert dd.group_def("D", 627) is dd.header.groups[627]  # NoHops, in the header
    assert dd.group_def("D", 453) is dd.messages["D"].groups[453]
    assert dd.group_def("D", 55) is None
    assert dd.group_def("no such type", 453) is None
    assert dd.data_length_tags[1401] == 1402  # EncryptedPasswordLen, FIXT only


@needs_spec
@pytest.mark.parametrize("stem", ["FIX50", "FIX50SP1"])
def test_fixt_with_older_fix50(stem: str) -> None:
    dd = xml_dictionary(stem, "FIXT11")
    assert dd.begin_string == "FIXT.1.1" and dd.app_version == CORPUS[stem][0]
    assert {"A", "0", "D", "8"} <= set(dd.messages)


# --------------------------------------------------------------------------- lookups


def test_lookups_and_protocol() -> None:
    dd = load_builtin("FIX.4.4")
    protocol_view: DictionaryLike = dd
    assert protocol_view.data_length_tags[95] == 96
    assert dd.field(55) is dd.field("Symbol") is dd.fields_by_name["Symbol"]
    assert dd.tag_name(55) == "Symbol" and dd.tag_name(987654) == "987654"
    with pytest.raises(KeyError):
        dd.field(987654)
    with pytest.raises(KeyError):
        dd.field("NoSuchField")
    assert dd.message("D").name == "NewOrderSingle"
    with pytest.raises(KeyError):
        dd.message("ZZ")
    assert dd.is_header_field(49) and not dd.is_header_field(55)
    assert dd.is_trailer_field(10) and not dd.is_trailer_field(49)
    assert dd.is_admin("A") and not dd.is_admin("D") and not dd.is_admin("ZZ")
    assert "FIX.4.4" in repr(dd)
    with pytest.raises(TypeError):
        dd.fields[1] = dd.fields[55]  # type: ignore[index]
    with pytest.raises(TypeError):
        dd.field(54).enums["Z"] = "nope"  # type: ignore[index]


# --------------------------------------------------------------------------- built-ins


@pytest.mark.parametrize("name", sorted(BUILTIN_NAMES))
def test_builtins_load_by_every_name(name: str) -> None:
    dd = load_builtin(name)
    assert dd is load_builtin(BUILTIN_NAMES[name])  # cached, shared
    assert dd.begin_string == BUILTIN_NAMES[name]
    assert dd.source == f"builtin:{BUILTIN_NAMES[name]}"


def test_builtin_fixt_is_fix50sp2() -> None:
    dd = load_builtin("FIX.5.0SP2")
    assert dd.begin_string == "FIXT.1.1" and dd.app_version == "FIX.5.0SP2"
    assert "A" in dd.messages and "D" in dd.messages and 627 in dd.header.groups


def test_unknown_builtin() -> None:
    with pytest.raises(ConfigError, match=r"FIX\.4\.3"):
        load_builtin("FIX.4.3")


def test_builtins_load_fast() -> None:
    # A fresh load (not the cache) of the largest built-in: aim 50 ms, allow a slow CI box.
    from fixg.fix import dictionary as module

    for name in ("FIX.4.2", "FIX.4.4", "FIXT.1.1"):
        app, transport = builtin_sources()[name]
        start = time.perf_counter()
        DataDictionary.from_compact(
            module._read_compact_resource(app),
            transport=None if transport is None else module._read_compact_resource(transport),
        )
        assert time.perf_counter() - start < 0.5, name


@needs_spec
@pytest.mark.parametrize("name", ["FIX.4.2", "FIX.4.4", "FIXT.1.1"])
def test_builtin_equals_xml(name: str) -> None:
    app, transport = builtin_sources()[name]
    assert load_builtin(name) == xml_dictionary(app, transport)


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_dictionaries", REPO / "tools" / "gen_dictionaries.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_spec
def test_shipped_builtins_match_the_generator(tmp_path: Path) -> None:
    generator = _generator()
    written = generator.generate(SPEC_DIR, tmp_path)
    shipped_dir = REPO / "fixg" / "fix" / "dictionaries"
    assert sorted(p.name for p in written) == sorted(p.name for p in shipped_dir.glob("*.json.gz"))
    for path in written:
        fresh = json.loads(gzip.decompress(path.read_bytes()))
        shipped = json.loads(gzip.decompress((shipped_dir / path.name).read_bytes()))
        assert fresh == shipped, f"{path.name} is stale: run tools/gen_dictionaries.py"
        assert fresh == xml_to_compact(SPEC_DIR / path.name.replace(".json.gz", ".xml"))
        assert (
            path.stat().st_size * 5
            < (SPEC_DIR / path.name.replace(".json.gz", ".xml")).stat().st_size
        )


@needs_spec
def test_generator_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generator = _generator()
    assert generator.main(["--spec-dir", str(SPEC_DIR), "--out-dir", str(tmp_path)]) == 0
    assert "FIX44.json.gz" in capsys.readouterr().out
    assert generator.main(["--spec-dir", str(tmp_path), "--out-dir", str(tmp_path)]) == 1
    assert "cannot read" in capsys.readouterr().err


# --------------------------------------------------------------------------- custom XML

CUSTOM_XML = """<?xml version="1.0" encoding="UTF-8"?>
<!-- a bilateral dictionary: standard header, a user-defined message and fields -->
<fix type="FIX" major="4" minor="4" servicepack="0">
 <header>
  <field name="BeginString" required="Y"/>
  <field name="BodyLength" required="Y"/>
  <field name="MsgType" required="Y"/>
  <field name="SenderCompID" required="Y"/>
  <field name="TargetCompID" required="Y"/>
  <field name="MsgSeqNum" required="Y"/>
  <field name="SendingTime" required="Y"/>
 </header>
 <trailer>
  <field name="CheckSum" required="Y"/>
 </trailer>
 <messages>
  <message name="Heartbeat" msgtype="0" msgcat="admin">
   <field name="TestReqID" required="N"/>
  </message>
  <message name="Logon" msgtype="A" msgcat="admin">
   <field name="EncryptMethod" required="Y"/>
   <field name="HeartBtInt" required="Y"/>
  </message>
  <message name="Reject" msgtype="3" msgcat="admin">
   <field name="RefSeqNum" required="Y"/>
  </message>
  <message name="NewOrderSingle" msgtype="D" msgcat="app">
   <field name="ClOrdID" required="Y"/>
   <component name="Instrument" required="Y"/>
   <field name="Side" required="Y"/>
   <field name="OrderQty" required="N"/>
   <field name="DeskColour" required="N"/>
   <field name="TraderTags" required="N"/>
  </message>
  <message name="RiskLimitUpdate" msgtype="U1" msgcat="app">
   <field name="RiskLimitID" required="Y"/>
   <group name="NoRiskLimits" required="Y">
    <field name="RiskLimitName" required="Y"/>
    <component name="Instrument" required="N"/>
    <field name="RiskLimitAmount" required="Y"/>
   </group>
   <field name="DeskColour" required="N"/>
  </message>
 </messages>
 <components>
  <component name="Instrument">
   <field name="Symbol" required="Y"/>
   <field name="SecurityID" required="N"/>
  </component>
 </components>
 <fields>
  <field number="8" name="BeginString" type="STRING"/>
  <field number="9" name="BodyLength" type="LENGTH"/>
  <field number="10" name="CheckSum" type="STRING"/>
  <field number="11" name="ClOrdID" type="STRING"/>
  <field number="34" name="MsgSeqNum" type="SEQNUM"/>
  <field number="35" name="MsgType" type="STRING">
   <value enum="0" description="HEARTBEAT"/>
   <value enum="3" description="REJECT"/>
   <value enum="A" description="LOGON"/>
   <value enum="D" description="ORDER_SINGLE"/>
   <value enum="8" description="EXECUTION_REPORT"/>
  </field>
  <field number="38" name="OrderQty" type="QTY"/>
  <field number="45" name="RefSeqNum" type="SEQNUM"/>
  <field number="48" name="SecurityID" type="STRING"/>
  <field number="49" name="SenderCompID" type="STRING"/>
  <field number="52" name="SendingTime" type="UTCTIMESTAMP"/>
  <field number="54" name="Side" type="CHAR">
   <value enum="1" description="BUY"/>
   <value enum="2" description="SELL"/>
   <value enum="2" description="SELL_AGAIN"/>
  </field>
  <field number="55" name="Symbol" type="STRING"/>
  <field number="56" name="TargetCompID" type="STRING"/>
  <field number="98" name="EncryptMethod" type="INT">
   <value enum="0" description="NONE"/>
  </field>
  <field number="108" name="HeartBtInt" type="INT"/>
  <field number="112" name="TestReqID" type="STRING"/>
  <field number="5001" name="DeskColour" type="CHAR">
   <value enum="R" description="RED"/>
   <value enum="G" description="GREEN"/>
  </field>
  <field number="5002" name="TraderTags" type="MULTIPLESTRINGVALUE">
   <value enum="VIP" description="VIP"/>
   <value enum="ALGO" description="ALGO"/>
  </field>
  <field number="5003" name="RiskLimitID" type="STRING"/>
  <field number="5004" name="NoRiskLimits" type="NUMINGROUP"/>
  <field number="5005" name="RiskLimitName" type="STRING"/>
  <field number="5006" name="RiskLimitAmount" type="AMT"/>
 </fields>
</fix>
"""


@pytest.fixture()
def custom_xml(tmp_path: Path) -> Path:
    path = tmp_path / "custom44.xml"
    path.write_text(CUSTOM_XML, encoding="utf-8")
    return path


def test_custom_dictionary_with_user_defined_tags(custom_xml: Path) -> None:
    dd = DataDictionary.from_xml(custom_xml)
    assert dd.begin_string == "FIX.4.4" and dd.source == str(custom_xml)
    assert dd.field(5001).name == "DeskColour" and dict(dd.field(5001).enums) == {
        "R": "RED",
        "G": "GREEN",
    }
    assert dict(dd.field(54).enums) == {"1": "BUY", "2": "SELL"}  # a repeated value: first kept
    order = dd.messages["D"]
    assert order.order == (11, 55, 48, 54, 38, 5001, 5002)
    assert order.required == {11, 55, 54}
    custom = dd.messages["U1"]
    assert custom.name == "RiskLimitUpdate" and custom.category == "app" and not dd.is_admin("U1")
    assert custom.required == {5003, 5004}
    group = custom.groups[5004]
    assert group.order == (5005, 55, 48, 5006) and group.required == {5005, 5006}
    assert dd.group_def("U1", 5004) is group
    # from_xml accepts str as well as Path; equal dictionaries compare and hash equal
    again = DataDictionary.from_xml(str(custom_xml))
    assert again == dd and hash(again) == hash(dd)
    assert dd != load_builtin("FIX.4.4")


# --------------------------------------------------------------------------- bad files


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.xml"
    path.write_text(text, encoding="utf-8")
    return path


def _broken(replace: str, by: str) -> str:
    assert replace in CUSTOM_XML
    return CUSTOM_XML.replace(replace, by, 1)


BAD_XML = {
    "not-well-formed": ("<fix major='4' minor='4'><fields>", "not well-formed"),
    "wrong-root": ("<notfix/>", "root element"),
    "no-version": ("<fix type='FIX'><fields/></fix>", "major"),
    "no-fields": ("<fix major='4' minor='4'></fix>", "no <fields>"),
    "undefined-field": (
        _broken('<field name="OrderQty" required="N"/>', '<field name="Nope" required="N"/>'),
        "name='Nope'> is not defined",
    ),
    "undefined-component": (
        _broken(
            '<component name="Instrument" required="Y"/>', '<component name="Gone" required="Y"/>'
        ),
        "'Gone' is not defined",
    ),
    "recursive-component": (
        _broken(
            '<field name="Symbol" required="Y"/>', '<component name="Instrument" required="N"/>'
        ),
        "contains itself",
    ),
    "bad-required": (
        _broken('<field name="Side" required="Y"/>', '<field name="Side" required="yes"/>'),
        "must be 'Y' or 'N'",
    ),
    "bad-number": (
        _broken('<field number="38" ', '<field number="thirty-eight" '),
        "not a positive integer",
    ),
    "duplicate-number": (_broken('<field number="45" ', '<field number="38" '), "defined twice"),
    "duplicate-msgtype": (_broken('msgtype="U1"', 'msgtype="D"'), "defined twice"),
    "bad-msgcat": (
        _broken('msgtype="U1" msgcat="app"', 'msgtype="U1" msgcat="both"'),
        "msgcat",
    ),
    "empty-group": (
        _broken(
            '<field name="RiskLimitName" required="Y"/>\n'
            '    <component name="Instrument" required="N"/>\n'
            '    <field name="RiskLimitAmount" required="Y"/>',
            "",
        ),
        "is empty",
    ),
    "no-type": (_broken('type="AMT"', 'type=""'), "has no type"),
}


@pytest.mark.parametrize("case", sorted(BAD_XML))
def test_bad_xml_is_a_config_error_naming_the_file(tmp_path: Path, case: str) -> None:
    text, match = BAD_XML[case]
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as info:
        DataDictionary.from_xml(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_doctype_and_entities_are_refused(tmp_path: Path) -> None:
    bomb = (
        '<?xml version="1.0"?>\n<!DOCTYPE fix [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
        '<fix major="4" minor="4"><fields>'
        '<field number="1" name="&b;" type="STRING"/></fields></fix>'
    )
    with pytest.raises(ConfigError, match="DOCTYPE"):
        DataDictionary.from_xml(_write(tmp_path, bomb))
    external = (
        '<?xml version="1.0"?>\n<!DOCTYPE fix SYSTEM "http://example.invalid/fix.dtd">\n<fix/>'
    )
    with pytest.raises(ConfigError, match="DOCTYPE"):
        DataDictionary.from_xml(_write(tmp_path, external))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read") as info:
        DataDictionary.from_xml(tmp_path / "absent.xml")
    assert "absent.xml" in str(info.value)


def test_bad_compact_documents() -> None:
    with pytest.raises(ConfigError, match="format"):
        DataDictionary.from_compact({"format": 99})
    good = {
        "format": 1,
        "begin_string": "FIX.4.4",
        "fields": [[1, "Account", "STRING"]],
        "header": [],
        "trailer": [],
        "components": {},
        "messages": [],
    }
    assert len(DataDictionary.from_compact(good).fields) == 1
    with pytest.raises(ConfigError, match="messages"):
        DataDictionary.from_compact({**good, "messages": {}})
    with pytest.raises(ConfigError, match="malformed dictionary item"):
        DataDictionary.from_compact({**good, "messages": [["D", "X", "app", [1.5]]]})
    with pytest.raises(ConfigError, match="malformed field"):
        DataDictionary.from_compact({**good, "fields": [[1]]})
