"""The Merkle tree is RFC 9162's: the published transparency-dev vectors (roots, inclusion and
consistency proofs) come out of it and verify with it, and every corrupted proof is refused."""

import json
import random
from pathlib import Path

import pytest

from okr.record import merkle
from okr.record.merkle import ProofError

VECTORS = json.loads((Path(__file__).parents[1] / "fixtures" / "merkle-vectors.json")
                     .read_text(encoding="utf-8"))
LEAVES = [merkle.leaf_hash(bytes.fromhex(x)) for x in VECTORS["leaves"]]
ROOTS = [bytes.fromhex(r) for r in VECTORS["roots"]]


def test_roots_of_every_size_match_the_published_vectors() -> None:
    assert merkle.root([]).hex() == VECTORS["empty_root"]
    for size, expected in enumerate(ROOTS, start=1):
        assert merkle.root(LEAVES[:size]) == expected, size


def test_a_compact_range_gives_the_same_roots_while_leaves_are_appended() -> None:
    leaves = [merkle.leaf_hash(random.Random(i).randbytes(5)) for i in range(70)]
    cr = merkle.CompactRange()
    for i, leaf in enumerate(leaves):
        cr.append(leaf)
        assert cr.root() == merkle.root(leaves[:i + 1])
        again = merkle.CompactRange(cr.size, cr.nodes)  # as kept on disk and read back
        assert again.root() == cr.root()


@pytest.mark.parametrize("vector", VECTORS["inclusion"], ids=lambda v: f"{v['leaf']}-{v['size']}")
def test_inclusion_proofs_are_the_published_ones_and_verify(vector: dict) -> None:
    index, size = vector["leaf"] - 1, vector["size"]
    proof = [bytes.fromhex(p) for p in vector["proof"]]
    assert merkle.inclusion_proof(index, LEAVES[:size]) == proof
    merkle.verify_inclusion(index, size, LEAVES[index], proof, ROOTS[size - 1])
    for bad in _corrupted(proof):
        with pytest.raises(ProofError):
            merkle.verify_inclusion(index, size, LEAVES[index], bad, ROOTS[size - 1])
    for i, s in ((index + 1, size), (index, size * 2), (index ^ 2, size)):
        if (i, s) != (index, size):
            with pytest.raises(ProofError):
                merkle.verify_inclusion(i, s, LEAVES[index], proof, ROOTS[size - 1])
    with pytest.raises(ProofError):
        merkle.verify_inclusion(index, size, merkle.leaf_hash(b"WrongLeaf"), proof,
                                ROOTS[size - 1])


@pytest.mark.parametrize("vector", VECTORS["consistency"],
                         ids=lambda v: f"{v['size1']}-{v['size2']}")
def test_consistency_proofs_are_the_published_ones_and_verify(vector: dict) -> None:
    size1, size2 = vector["size1"], vector["size2"]
    proof = [bytes.fromhex(p) for p in vector["proof"]]
    root1, root2 = ROOTS[size1 - 1], ROOTS[size2 - 1]
    assert merkle.consistency_proof(size1, LEAVES[:size2]) == proof
    merkle.verify_consistency(size1, size2, root1, root2, proof)
    if not proof:
        return
    for bad in _corrupted(proof):
        with pytest.raises(ProofError):
            merkle.verify_consistency(size1, size2, root1, root2, bad)
    for s1, s2, r1, r2 in ((size1 - 1, size2, root1, root2), (size1 + 1, size2, root1, root2),
                           (size1, size2 * 2, root1, root2), (size1, size2, root2, root1),
                           (size1, size2, merkle.EMPTY_ROOT, root2)):
        with pytest.raises(ProofError):
            merkle.verify_consistency(s1, s2, r1, r2, proof)


def test_every_proof_of_every_size_up_to_40_verifies() -> None:
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(40)]
    roots = [merkle.root(leaves[:n]) for n in range(41)]
    for n in range(1, 41):
        many = merkle.inclusion_proofs(range(n), leaves[:n])
        for i in range(n):
            assert many[i] == merkle.inclusion_proof(i, leaves[:n])
            merkle.verify_inclusion(i, n, leaves[i], many[i], roots[n])
        for m in range(0, n + 1):
            merkle.verify_consistency(m, n, roots[m], roots[n],
                                      merkle.consistency_proof(m, leaves[:n]))


def test_a_log_that_changed_an_early_leaf_is_not_consistent_with_its_old_head() -> None:
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(12)]
    old_root = merkle.root(leaves[:5])
    leaves[3] = merkle.leaf_hash(b"edited")
    with pytest.raises(ProofError):
        merkle.verify_consistency(5, 12, old_root, merkle.root(leaves),
                                  merkle.consistency_proof(5, leaves))


def _corrupted(proof: list[bytes]) -> list[list[bytes]]:
    """The transparency-dev probes: garbage before or after, a flipped bit, a node removed or
    inserted."""
    out = [[*proof, b""], [b"", *proof], [*proof, bytes.fromhex("ab" * 32)]]
    if proof:
        out += [[*proof, proof[0]], [proof[0], *proof], proof[:-1]]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
        out.append(bad)
    if len(proof) > 1:
        out.append([proof[0], bytes.fromhex("ab" * 32), *proof[1:]])
    return out
