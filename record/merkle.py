"""The Merkle tree over the log (RFC 9162 section 2.1, the RFC 6962 construction).

A leaf is one envelope: its leaf input is the 32 bytes of the envelope's `hash` (hex-decoded),
in position order. Leaf and node hashes are domain-separated:

    leaf hash = SHA-256(0x00 ‖ leaf input)
    node hash = SHA-256(0x01 ‖ left ‖ right)

and the tree over n leaves splits at k, the largest power of two below n. A tree head
(size, root) signed in a checkpoint commits to every envelope before it; an inclusion proof
shows one envelope is in it, a consistency proof that a later head extends an earlier one.
"""

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof that does not verify, or sizes that make no proof."""


def leaf_hash(leaf_input: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf_input).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def envelope_leaf(envelope_hash: str) -> bytes:
    """The leaf hash of an envelope, given its `hash` field (64 hex)."""
    return leaf_hash(bytes.fromhex(envelope_hash))


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes (the empty tree's root is SHA-256 of nothing)."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    # Pairing left to right level by level builds the same tree as the RFC's recursion: a
    # right-most node without a partner moves up unchanged.
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the audit path of leaf `index` (0-based) in the tree over `leaves`."""
    if not 0 <= index < len(leaves):
        raise ProofError(f"leaf {index} is not in a tree of {len(leaves)}")
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*inclusion_proof(index, leaves[:k]), root(leaves[k:])]
    return [*inclusion_proof(index - k, leaves[k:]), root(leaves[:k])]


def levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first: a right-most node without a partner moves up
    unchanged, which builds the same tree as the RFC's split at powers of two."""
    out = [list(leaves)]
    while len(out[-1]) > 1:
        level = out[-1]
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        out.append(nxt)
    return out


def inclusion_proofs(indices: Sequence[int], leaves: Sequence[bytes]) -> list[list[bytes]]:
    """PATH(m, D[n]) for many leaves at once: the tree is hashed once (O(n)), then each path
    is read off its levels (O(log n)); equal to `inclusion_proof` for each index."""
    tree = levels(leaves)
    out = []
    for index in indices:
        if not 0 <= index < len(leaves):
            raise ProofError(f"leaf {index} is not in a tree of {len(leaves)}")
        path, i = [], index
        for level in tree[:-1]:
            sibling = i ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            i >>= 1
        out.append(path)
    return out


# A node of the tree is named (level, index): the hash over leaves
# [index * 2**level, min((index + 1) * 2**level, size)). Level 0 holds the leaf hashes; each
# level pairs the one below left to right, and a right-most node without a partner moves up
# unchanged — the RFC's tree, so the node at the top level is the root.


def multiproof(indices: Sequence[int], leaves: Sequence[bytes]) -> dict[tuple[int, int], bytes]:
    """The nodes that, with the leaves at `indices`, recompute the root of the tree over
    `leaves`: each sibling on their paths that is not itself on a path, each once (the
    inclusion proofs of all those leaves, deduplicated and without what they derive)."""
    tree = levels(leaves)
    known = set(indices)
    if any(not 0 <= i < len(leaves) for i in known):
        raise ProofError(f"a leaf index is not in a tree of {len(leaves)}")
    nodes: dict[tuple[int, int], bytes] = {}
    for level, row in enumerate(tree[:-1]):
        for i in known:
            sibling = i ^ 1
            if sibling < len(row) and sibling not in known:
                nodes[(level, sibling)] = row[sibling]
        known = {i >> 1 for i in known}
    return nodes


def root_from_multiproof(size: int, leaves: dict[int, bytes],
                         nodes: dict[tuple[int, int], bytes]) -> bytes:
    """The root that leaf hashes by index and a multiproof's nodes lead to. ProofError when a
    node the paths need is missing, or a node is given that they do not need (one covering a
    given leaf, or off every path): a multiproof holds exactly the nodes it must."""
    if size < 1 or not leaves:
        raise ProofError("a multiproof needs a tree of one leaf at least and a leaf in it")
    if any(not 0 <= i < size for i in leaves):
        raise ProofError(f"a leaf index is not in a tree of {size}")
    for h in (*leaves.values(), *nodes.values()):
        _check(h)
    unused = dict(nodes)
    known, width, level = dict(leaves), size, 0
    while width > 1:
        above: dict[int, bytes] = {}
        for i in sorted(known):
            if i >> 1 in above:
                continue
            sibling = i ^ 1
            if sibling >= width:  # the right-most node without a partner moves up
                above[i >> 1] = known[i]
                continue
            other = known.get(sibling)
            if other is None:
                other = unused.pop((level, sibling), None)
                if other is None:
                    raise ProofError(f"the multiproof lacks node ({level}, {sibling})")
            left, right = (known[i], other) if i % 2 == 0 else (other, known[i])
            above[i >> 1] = node_hash(left, right)
        known, width, level = above, (width + 1) // 2, level + 1
    if unused:
        level, index = min(unused)
        raise ProofError(f"the multiproof holds node ({level}, {index}), which the leaves' "
                         "paths do not need")
    return known[0]


def consistency_proof(size1: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]): shows the tree of the first `size1` leaves is a prefix of this one."""
    if not 0 <= size1 <= len(leaves):
        raise ProofError(f"no tree of {size1} inside a tree of {len(leaves)}")
    if size1 in (0, len(leaves)):
        return []
    return _subproof(size1, leaves, True)


def _subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), root(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root(leaves[:k])]


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 2.1.3.2)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        _check(p)
        if sn == 0:
            raise ProofError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof is too short")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes],
                     expected_root: bytes) -> None:
    """Raise ProofError unless the leaf is at `index` of the tree with this root."""
    _check(leaf)
    if root_from_inclusion(index, size, leaf, proof) != expected_root:
        raise ProofError(f"leaf {index} is not in the tree of {size} with that root")


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes,
                       proof: Sequence[bytes]) -> None:
    """Raise ProofError unless the tree (size2, root2) extends (size1, root1)
    (RFC 9162 2.1.4.2)."""
    if size2 < size1:
        raise ProofError(f"a tree of {size2} cannot extend one of {size1}")
    if size1 == size2:
        if proof:
            raise ProofError("equal sizes take an empty consistency proof")
        if root1 != root2:
            raise ProofError(f"two different roots for the tree of {size1}")
        return
    if size1 == 0:
        if proof:
            raise ProofError("the empty tree takes an empty consistency proof")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    for p in proof:
        _check(p)
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # a power of two: the old root is the proof's first node
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != root1:
        raise ProofError(f"the log does not extend the tree of {size1} with that root")
    if sr != root2:
        raise ProofError(f"the consistency proof does not lead to the root of {size2}")


def _check(h: bytes) -> None:
    if len(h) != 32:
        raise ProofError("a proof node is not 32 bytes")


class CompactRange:
    """The roots of the perfect subtrees covering leaves [0, size): enough to append leaves and
    compute the root at any size without keeping the leaves (O(log n) hashes)."""

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if len(nodes) != bin(size).count("1"):
            raise ProofError(f"a compact range of {size} leaves has {bin(size).count('1')} "
                             f"nodes, not {len(nodes)}")
        self.size = size
        self.nodes = list(nodes)  # largest subtree first

    def append(self, leaf: bytes) -> None:
        self.nodes.append(leaf)
        size = self.size
        while size & 1:  # merge equal-size subtrees, like carrying in binary addition
            right = self.nodes.pop()
            self.nodes[-1] = node_hash(self.nodes[-1], right)
            size >>= 1
        self.size += 1

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        r = self.nodes[-1]
        for n in reversed(self.nodes[:-1]):
            r = node_hash(n, r)
        return r

    def copy(self) -> "CompactRange":
        return CompactRange(self.size, self.nodes)
