"""The declarative file tree: identifiers, sizes, access rules, DIR, FCI."""
from __future__ import annotations

import pytest

from apdu.tlv import parse_ber
from cardspec.access import AccessRule
from cardspec.ids import SSSE_DF_NAME, AlgorithmId, AppDF, DfKeyId, KeyId
from cardspec.records import LAYOUTS, layouts_in
from cardspec.tree import DFSpec, EFSpec, EFType, TreeError, ssse_fci, ssse_tree

TREES = {g: ssse_tree(g) for g in (2, 3)}


@pytest.mark.parametrize("generation", [2, 3])
def test_identifiers_unique_per_df(generation: int) -> None:
    for path, node in TREES[generation].walk():
        if not isinstance(node, DFSpec):
            continue
        efs = [c for c in node.children if isinstance(c, EFSpec)]
        fids = [c.fid for c in node.children]
        sfis = [c.sfi for c in efs if c.sfi is not None]
        assert len(fids) == len(set(fids)), path
        assert len(sfis) == len(set(sfis)), path
        assert all(1 <= s <= 30 for s in sfis), path
        assert all(c.sfi is not None for c in efs), path  # every EF is reachable by SFI


@pytest.mark.parametrize("generation", [2, 3])
def test_rules_round_trip(generation: int) -> None:
    for path, node in TREES[generation].walk():
        if isinstance(node, EFSpec):
            for rule in (node.read, node.write):
                assert AccessRule.parse(str(rule)) == rule, path
                encoded = rule.to_bytes()
                assert AccessRule.from_bytes(encoded + b"\x99") == (rule, len(encoded)), path


@pytest.mark.parametrize("generation", [2, 3])
def test_key_ids_are_declared(generation: int) -> None:
    tree = TREES[generation]
    assert tree.key_ids() == {KeyId.UK, KeyId.RK}
    for path, node in tree.walk():
        if isinstance(node, DFSpec) and node is not tree:
            assert node.key_ids() <= set(DfKeyId), path
            assert DfKeyId.RK1 in node.key_ids() and DfKeyId.UK1 in node.key_ids(), path


def test_every_layout_file_is_a_record_ef_big_enough() -> None:
    tree = TREES[3]
    for file in {lay.file for lay in LAYOUTS.values()}:
        ef = tree.find(file)
        assert isinstance(ef, EFSpec) and ef.type is EFType.LINEAR_VARIABLE, file
        assert ef.record_length == max(lay.record_length for lay in layouts_in(file)), file
        assert ef.max_records is not None and ef.max_records >= len(layouts_in(file)), file


def test_ssse_files_match_the_spec() -> None:
    t3, t2 = TREES[3], TREES[2]
    expected = {  # path: (FID, SFI, type, read, write, size or (records, record length))
        "SSSE/EF05": (0xEF05, 5, EFType.LINEAR_VARIABLE, "free", "key:04", (7, 0x12)),
        "SSSE/EF06": (0xEF06, 6, EFType.LINEAR_VARIABLE, "key:0A", "key:04", (7, 0x20)),
        "SSSE/EF07": (0xEF07, 7, EFType.TRANSPARENT, "key:0A", "key:04", 0x300),
        "SSSE/EF08": (0xEF08, 8, EFType.TRANSPARENT, "key:0A", "key:04", 0x1000),
        "SSSE/DF04/EF08": (0xEF08, 8, EFType.CYCLIC, "pin", "never", (30, 0x1C)),
        "SSSE/DF04/EF15": (0xEF15, 0x15, EFType.CYCLIC, "pin|key:84", "key:86", (8, 3)),
        "SSSE/DF01/EF1A": (0xEF1A, 0x1A, EFType.TRANSPARENT, "free", "key:8F", 0x128),
    }
    for path, (fid, sfi, kind, read, write, size) in expected.items():
        ef = t3.find(path)
        assert isinstance(ef, EFSpec)
        got_size = ef.size if kind is EFType.TRANSPARENT else (ef.max_records, ef.record_length)
        assert (ef.fid, ef.sfi, ef.type, str(ef.read), str(ef.write), got_size) == (fid, sfi, kind, read, write, size)
    assert str(t2.find("SSSE/EF06").read) == "free"
    # the whole-file sizes real cards answer to 00B2010540 / 00B201055B
    assert sum(lay.record_length for lay in layouts_in("SSSE/EF05")) == 0x40
    assert sum(lay.record_length for lay in layouts_in("SSSE/EF06")) == 0x5B


def test_application_dfs_and_dir() -> None:
    tree = TREES[3]
    assert tree.df_name == SSSE_DF_NAME
    dfs = [c for c in tree.children if isinstance(c, DFSpec)]
    assert [(d.name, d.fid, d.df_name) for d in dfs] == [(a.name, int(a), a.aid) for a in AppDF]
    dir_ef = tree.find("SSSE/DIR")
    assert isinstance(dir_ef, EFSpec) and dir_ef.sfi == 0x1E and str(dir_ef.read) == "free"
    aids = []
    for rec in dir_ef.initial_records:
        (app,) = parse_ber(rec)
        assert app.tag == 0x61 and [c.tag for c in app.children()] == [0x4F, 0x50]
        aids.append(app.children()[0].value)
    assert aids == [d.df_name for d in dfs]


def test_overrides_and_errors() -> None:
    t = ssse_tree(3, ef06_read=AccessRule.parse("pin"))
    assert str(t.find("SSSE/EF06").read) == "pin"
    with pytest.raises(TreeError, match=r"^SSSE: DIR and EF05 share SFI 05$"):
        ssse_tree(3, dir_sfi=5)
    with pytest.raises(TreeError, match=r"^generation 1: sscard models 2nd- and 3rd-generation cards"):
        ssse_tree(1)
    with pytest.raises(TreeError, match=r"^no file 'SSSE/EF09' in the SSSE tree$"):
        t.find("SSSE/EF09")
    with pytest.raises(TreeError, match=r"record files need max_records and record_length"):
        EFSpec("EF0C", 0xEF0C, 0x0C, EFType.CYCLIC, AccessRule.parse("free"), AccessRule.parse("never"), size=16)


def test_fci_matches_the_traces() -> None:
    # TR1/TR2 (3.0, SM4) and TR4 (2.0): ssse.md §1
    assert ssse_fci(0x1E, AlgorithmId.SM4) == bytes.fromhex(
        "6F1C840F7378312E73682EC9E7BBE1B1A3D5CFA50988011E9F0C03860103")
    assert ssse_fci(0x1E, None) == bytes.fromhex("6F16840F7378312E73682EC9E7BBE1B1A3D5CFA50388011E")
