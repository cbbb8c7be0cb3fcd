"""Signature text round-trips; bad signatures raise SignatureError naming the token."""

import pytest

from basis_compiler import Signature, SignatureError
from basis_compiler.errors import BasisCompilerError

NORMALIZED = [
    "O(3): v:1, X:2s -> 2s",
    "SO(3): v:1, w:1 -> 1",
    "O(3): E:1, B:1p -> 2s",
    "O(1,3): p[n]:1 -> 2s",
    "Sp(4): q:1, p:1 -> 0",
    "O(5): a[n]:1 -> 2s",
    "O(5): a[100]:1 -> 2s",
    "O(3): -> 8",
    "O(2,2): A:2a, s:0p -> 0p",
    "O(3): C:4s -> 4",
]


@pytest.mark.parametrize("text", NORMALIZED)
def test_round_trip(text):
    assert str(Signature.parse(text)) == text
    assert Signature.parse(str(Signature.parse(text))) == Signature.parse(text)


def test_parse_fields():
    sig = Signature.parse("O(1,3):  p[n] : 1 ,X:2sp->2s")
    assert str(sig) == "O(1,3): p[n]:1, X:2sp -> 2s"
    assert sig.group.family == "Ost" and sig.d == 4 and sig.group.s == 1
    assert sig.inputs[0].family == "n" and sig.inputs[0].type.order == 1
    assert sig.inputs[1].type.symmetry == "sym" and sig.inputs[1].type.pseudo
    assert sig.output.symmetry == "sym" and not sig.is_concrete
    assert sig.with_family_sizes(p=7).inputs[0].family == 7


def test_o_s_zero_is_o_d():
    assert str(Signature.parse("O(3,0): v:1 -> 0")) == "O(3): v:1 -> 0"


@pytest.mark.parametrize(
    "text, token",
    [
        ("U(3): v:1 -> 0", "U(3)"),
        ("Sp(3): v:1 -> 0", "Sp(3)"),
        ("SO(3): v:1p -> 0", "1p"),
        ("Sp(4): v:1p -> 0", "1p"),
        ("O(3): v:1s -> 0", "1s"),
        ("O(3): v:1, v:2 -> 0", "'v'"),
        ("O(3) v:1 -> 0", "':'"),
        ("O(3): v:1 0", "'->'"),
        ("O(0): v:1 -> 0", "O(0)"),
        ("O(-2): v:1 -> 0", "O(-2)"),
        ("O(3): v:x -> 0", "'x'"),
        ("O(3): v[0]:1 -> 0", "v[0]"),
        ("O(3): v:2sa -> 0", "2sa"),
        ("O(3): 1v:1 -> 0", "1v:1"),
        ("O(3): def:1 -> 0", "'def'"),
        ("SO(1,3): v:1 -> 0", "SO(1,3)"),
    ],
)
def test_bad_signatures(text, token):
    with pytest.raises(SignatureError) as info:
        Signature.parse(text)
    message = str(info.value)
    assert token in message
    assert "O(3): v:1, X:2s -> 2s" in message  # shows a valid example
    assert isinstance(info.value, BasisCompilerError) and isinstance(info.value, ValueError)


def test_not_a_string():
    with pytest.raises(SignatureError):
        Signature.parse(3)
