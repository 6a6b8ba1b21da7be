"""W3C Data Integrity proofs with the `eddsa-rdfc-2022` cryptosuite. Pure module (no Django).

    proofConfig = proof options without proofValue, with the document's @context
    hashData    = SHA-256(RDFC-1.0(proofConfig)) || SHA-256(RDFC-1.0(document without proof))
    proofValue  = "z" + base58btc(Ed25519.sign(hashData))

RDF canonicalization is done by pyld (URDNA2015, which RDFC-1.0 is, for SHA-256), with the
JSON-LD contexts read from diplomas/contexts/ by an offline document loader: no network, ever.

Speed. pyld takes tens of milliseconds for a credential, most of it in JSON-LD expansion. For
bulk issuance, `Template` runs the JSON-LD to RDF step ONCE for a credential shape, with a
placeholder in every string leaf, and then only substitutes each candidate's values into the
resulting quads. This is exact, not an approximation: JSON-LD's toRDF turns a string leaf into
one RDF term whose lexical form is that very string (a literal, typed or language-tagged by the
context, whatever the text), or, for @id-coerced terms, an IRI equal to the string when the string
is an absolute IRI (checked); the shape of the graph depends only on the JSON structure and the
contexts, which are the template's. The template checks that every placeholder lands whole in RDF
terms (never split, never altered). Then `canonical_nquads` runs RDFC-1.0 itself on those quads: it issues canonical
blank node labels from the first-degree hashes, which is the whole algorithm whenever those
hashes are distinct (always the case for our credentials, whose blank nodes all differ in
content); otherwise it hands the dataset to pyld's full implementation (the N-degree steps).
tests/diplomas/test_dataintegrity.py checks it against pyld on random and hostile values.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pyld import jsonld
from pyld.canon import URDNA2015
from pyld.nquads import escape as _nq_escape

from .codec import multibase_b58, multibase_decode

CONTEXTS_DIR = Path(__file__).with_name("contexts")
VC_V2 = "https://www.w3.org/ns/credentials/v2"
OB_V3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
MULTIKEY_V1 = "https://w3id.org/security/multikey/v1"
DID_V1 = "https://www.w3.org/ns/did/v1"
CONTEXT_FILES = {
    VC_V2: "credentials-v2.json",
    OB_V3: "ob-v3p0-3.0.3.json",
    MULTIKEY_V1: "multikey-v1.json",
    DID_V1: "did-v1.json",
}
CRYPTOSUITE = "eddsa-rdfc-2022"
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
# What a substituted IRI may look like: absolute, with a scheme no context defines as a prefix.
IRI_VALUE = re.compile(r"(?:https?|urn|did):[^\s<>\"{}|\\^`]+")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_documents: dict[str, Any] = {}


class ProofError(ValueError):
    """The proof is missing, malformed, of another kind, or does not verify."""


def _context_document(url: str) -> Any:
    if url not in _documents:
        name = CONTEXT_FILES.get(url)
        if name is None:
            raise jsonld.JsonLdError(
                f"context not available offline: {url}", "jsonld.LoadDocumentError"
            )
        _documents[url] = json.loads((CONTEXTS_DIR / name).read_text(encoding="utf-8"))
    return _documents[url]


def document_loader(url: str, options: Mapping | None = None) -> dict[str, Any]:
    """The only JSON-LD document loader we use: the stored contexts, nothing from the network."""
    return {"contextUrl": None, "documentUrl": url, "document": _context_document(url)}


_OPTIONS = {"algorithm": "URDNA2015", "format": "application/n-quads"}


def canonize(document: Mapping[str, Any]) -> str:
    """RDFC-1.0 canonical N-Quads of a JSON-LD document (full pyld path)."""
    return jsonld.normalize(dict(document), {**_OPTIONS, "documentLoader": document_loader})


# --- the quads, as tuples --------------------------------------------------------------------
# A term is (kind, value, datatype, language) with kind "I" (IRI), "B" (blank node), "L" (literal).

Term = tuple[str, str, str, str]
Quad = tuple[Term, Term, Term]


def _term(component: Mapping[str, str]) -> Term:
    kind = {"IRI": "I", "blank node": "B", "literal": "L"}[component["type"]]
    return (kind, component["value"], component.get("datatype", ""), component.get("language", ""))


def _show(term: Term) -> str:
    kind, value, datatype, language = term
    if kind == "I":
        return "<" + value + ">"
    if kind == "B":
        return value
    text = '"' + _nq_escape(value) + '"'
    if datatype == RDF_LANGSTRING:
        return text + ("@" + language if language else "")
    if datatype and datatype != XSD_STRING:
        return text + "^^<" + datatype + ">"
    return text


def _line(quad: Quad, labels: Mapping[str, str] | None = None) -> str:
    parts = []
    for term in quad:
        if labels is not None and term[0] == "B":
            parts.append(labels[term[1]])
        else:
            parts.append(_show(term))
    return " ".join(parts) + " .\n"


def to_quads(document: Mapping[str, Any]) -> list[Quad]:
    dataset = jsonld.to_rdf(dict(document), {"documentLoader": document_loader})
    if set(dataset) - {"@default"}:
        raise ValueError("named graphs are not expected here")
    return [
        (_term(t["subject"]), _term(t["predicate"]), _term(t["object"]))
        for t in dataset.get("@default", [])
    ]


def canonical_nquads(quads: list[Quad]) -> str:
    """RDFC-1.0 of a default-graph dataset (see the module docstring)."""
    mentions: dict[str, list[Quad]] = {}
    for quad in quads:
        for term in (quad[0], quad[2]):
            if term[0] == "B":
                mentions.setdefault(term[1], []).append(quad)
    hashes: dict[str, str] = {}
    for node, its_quads in mentions.items():
        lines = []
        for quad in its_quads:
            parts = []
            for term in quad:
                if term[0] == "B":
                    parts.append("_:a" if term[1] == node else "_:z")
                else:
                    parts.append(_show(term))
            lines.append(" ".join(parts) + " .\n")
        lines.sort()
        hashes[node] = hashlib.sha256("".join(lines).encode()).hexdigest()
    if len(set(hashes.values())) != len(hashes):
        return _pyld_canonical(quads)
    labels = {node: f"_:c14n{i}" for i, node in enumerate(sorted(hashes, key=hashes.__getitem__))}
    lines = [_line(quad, labels) for quad in quads]
    lines = sorted(set(lines))  # a dataset is a set: duplicates collapse, as in pyld
    return "".join(lines)


def _pyld_canonical(quads: list[Quad]) -> str:
    def component(term: Term) -> dict[str, str]:
        kind, value, datatype, language = term
        if kind == "L":
            out = {"type": "literal", "value": value, "datatype": datatype or XSD_STRING}
            if language:
                out["language"] = language
            return out
        return {"type": "IRI" if kind == "I" else "blank node", "value": value}

    triples = [
        {"subject": component(s), "predicate": component(p), "object": component(o)}
        for s, p, o in quads
    ]
    return URDNA2015().main({"@default": triples}, {"format": "application/n-quads"})


# --- templates --------------------------------------------------------------------------------

_LITERAL_MARK = "\ue000{}\ue001"
_IRI_MARK = "urn:x-bac-slot:{}"


def _braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


@dataclass
class Template:
    """A credential shape turned into quads once, with slots to fill per candidate.

    The quads are compiled into N-Quads line formats: a slot or a blank node is a format field,
    so a candidate's lines are `str.format_map` calls, hashed and sorted as RDFC-1.0 says."""

    quads: list[Quad]
    slots: dict[str, str]  # placeholder -> slot name
    iri_slots: frozenset[str]
    formats: list[str] = field(default_factory=list)
    slot_fields: dict[str, tuple[str, bool]] = field(default_factory=dict)  # mark -> (f, literal)
    node_lines: dict[str, list[int]] = field(default_factory=dict)  # node field -> line formats

    @classmethod
    def build(
        cls, document: Mapping[str, Any], literal_slots: list[str], iri_slots: list[str]
    ) -> tuple[Template, dict[str, Any]]:
        """`document` is a function of slots: any string equal to `{{name}}` is a slot. Returns
        the template and the placeholder document."""
        placeholders: dict[str, str] = {}
        for index, name in enumerate(literal_slots):
            placeholders["{{" + name + "}}"] = _LITERAL_MARK.format(index)
        for index, name in enumerate(iri_slots):
            placeholders["{{" + name + "}}"] = _IRI_MARK.format(index)

        def fill(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: fill(v) for k, v in value.items()}
            if isinstance(value, list):
                return [fill(v) for v in value]
            if isinstance(value, str) and value in placeholders:
                return placeholders[value]
            return value

        shaped = fill(copy.deepcopy(dict(document)))
        quads = to_quads(shaped)
        by_mark = {mark: name[2:-2] for name, mark in placeholders.items()}
        seen: dict[str, int] = {}
        for quad in quads:
            for term in quad:
                if term[1] in by_mark:
                    seen[term[1]] = seen.get(term[1], 0) + 1
                elif "\ue000" in term[1] or "urn:x-bac-slot:" in term[1]:
                    raise ValueError("a slot was transformed by JSON-LD processing: not a leaf")
        missing = [by_mark[m] for m in by_mark if not seen.get(m)]
        if missing:
            raise ValueError(f"slots not mapped to an RDF term: {missing}")
        template = cls(quads, by_mark, frozenset(iri_slots))
        template._compile()
        return template, shaped

    def _compile(self) -> None:
        kinds: dict[str, set[str]] = {}
        for quad in self.quads:
            for term in quad:
                if term[1] in self.slots:
                    kinds.setdefault(term[1], set()).add(term[0])
        for index, mark in enumerate(self.slots):
            literal = kinds.get(mark) == {"L"}
            if not literal and kinds.get(mark) != {"I"}:
                raise ValueError(f"slot {self.slots[mark]} is both an IRI and a literal")
            self.slot_fields[mark] = (f"s{index}", literal)
        nodes = sorted({t[1] for q in self.quads for t in (q[0], q[2]) if t[0] == "B"})
        node_fields = {node: f"b{index}" for index, node in enumerate(nodes)}
        for line, quad in enumerate(self.quads):
            self.formats.append(self._format(quad, lambda node: "{" + node_fields[node] + "}"))
            for term in (quad[0], quad[2]):
                if term[0] == "B":
                    lines = self.node_lines.setdefault(node_fields[term[1]], [])
                    if line not in lines:
                        lines.append(line)
        # What canonical() runs per candidate (lines are split at "\n", which no term contains:
        # literals are escaped, IRIs have no white space):
        # - per blank node, its first-degree hash: the node's lines with itself as _:a and
        #   the others as _:z, known now; lines without a slot are text now, those with one are
        #   a single format to fill (none at all: the hash itself is known now);
        # - the whole document as one format, blank nodes named by the hashes' order.
        self._all_lines = "".join(self.formats)
        # The document's lines grouped by subject: the groups sort by their subject (no term
        # has a space, so "subject " decides between two lines of different subjects), and a
        # group's lines often have an order known now (_sorted_ahead), so that only the
        # subjects are sorted per candidate. Each: ((text, field, text) that makes the sort
        # key, whether the lines are in order already, the group's format).
        by_subject: dict[str, list[str]] = {}
        for quad, line in zip(self.quads, self.formats, strict=True):
            subject = self._piece(quad[0], lambda node: "{" + node_fields[node] + "}")
            by_subject.setdefault(subject, []).append(line[len(subject) + 1 :])
        self._groups: list[tuple[tuple[str, str, str], bool, str]] = []
        for subject, rests in by_subject.items():
            if subject.startswith("{b"):
                key = ("", subject[1:-1], " ")
            elif subject.startswith("<{s"):
                key = ("<", subject[2:-2], "> ")
            else:
                key = (subject.format_map({}) + " ", "", "")
            order = _sorted_ahead(rests)
            lines = rests if order is None else order
            self._groups.append((key, order is not None, "".join(subject + " " + r for r in lines)))
        # Per node: (field, KNOWN, its hash, ""), or (field, PRESORTED, the format of its lines in
        # their sorted order, ""), or (field, SORT, its fixed lines, the format of the others).
        self._node_hashes: list[tuple[str, int, Any, str]] = []
        for node, field_name in node_fields.items():
            formats = [
                self._format(
                    self.quads[i], lambda other, node=node: "_:a" if other == node else "_:z"
                )
                for i in self.node_lines[field_name]
            ]
            with_slots = [line for line in formats if "{s" in line.replace("{{", "")]
            if not with_slots:
                fixed = [line.format_map({})[:-1] for line in formats]  # no line end
                self._node_hashes.append((field_name, _KNOWN, _first_degree_hash(fixed), ""))
                continue
            order = _sorted_ahead(formats)
            if order is not None:
                self._node_hashes.append((field_name, _PRESORTED, "".join(order), ""))
                continue
            fixed = [line.format_map({})[:-1] for line in formats if line not in with_slots]
            self._node_hashes.append((field_name, _SORT, fixed, "".join(with_slots)))
        by_name = {name: mark for mark, name in self.slots.items()}
        self._literals = [
            (name, self.slot_fields[by_name[name]][0])
            for name in self.slots.values()
            if self.slot_fields[by_name[name]][1]
        ]
        self._iris = [
            (name, self.slot_fields[by_name[name]][0])
            for name in self.slots.values()
            if not self.slot_fields[by_name[name]][1]
        ]

    def _format(self, quad: Quad, node_text: Callable[[str], str]) -> str:
        """The N-Quads line format of a quad: slots as fields, blank nodes as node_text()."""
        return " ".join(self._piece(term, node_text) for term in quad) + " .\n"

    def _piece(self, term: Term, node_text: Callable[[str], str]) -> str:
        if term[1] in self.slot_fields:
            name, literal = self.slot_fields[term[1]]
            if literal:
                suffix = _show(("L", "", term[2], term[3]))[2:]
                return '"{' + name + '}"' + _braces(suffix)
            return "<{" + name + "}>"
        if term[0] == "B":
            return node_text(term[1])
        return _braces(_show(term))

    def _check(self, values: Mapping[str, str]) -> dict[str, str]:
        resolved = {}
        for mark, name in self.slots.items():
            value = values[name]
            if not isinstance(value, str):
                raise TypeError(f"slot {name} takes a string")
            if name in self.iri_slots:
                if not IRI_VALUE.fullmatch(value):
                    raise ValueError(f"slot {name} takes an absolute IRI")
            elif CONTROL.search(value):
                raise ValueError(f"slot {name}: control characters are not allowed")
            resolved[mark] = value
        return resolved

    def quads_for(self, values: Mapping[str, str]) -> list[Quad]:
        resolved = self._check(values)
        quads = []
        for quad in self.quads:
            new = []
            for term in quad:
                if term[1] in resolved:
                    term = (term[0], resolved[term[1]], term[2], term[3])
                new.append(term)
            quads.append((new[0], new[1], new[2]))
        return quads

    def canonical(self, values: Mapping[str, str]) -> str:
        """RDFC-1.0 of the template filled with `values` (the compiled fast path)."""
        try:
            literals = [values[name] for name, _field in self._literals]
            iris = [values[name] for name, _field in self._iris]
            # One search over all the literals (CONTROL matches single characters), and any
            # doubt (a non-string, a bad value) goes to _check, which names the culprit.
            valid = not CONTROL.search("".join(literals)) and all(
                IRI_VALUE.fullmatch(value) for value in iris
            )
        except TypeError:
            valid = False
        if not valid:
            self._check(values)
        fields: dict[str, str] = {}
        for (_name, field_name), value in zip(self._literals, literals, strict=True):
            # Tabs and line ends are control characters, refused above: only \\ and " remain
            # to escape, and most values have neither.
            fields[field_name] = _nq_escape(value) if '"' in value or "\\" in value else value
        for (_name, field_name), value in zip(self._iris, iris, strict=True):
            fields[field_name] = value
        hashes: dict[str, str] = {}
        for field_name, kind, known, slotted in self._node_hashes:
            if kind == _PRESORTED:
                hashes[field_name] = hashlib.sha256(known.format_map(fields).encode()).hexdigest()
            elif kind == _KNOWN:
                hashes[field_name] = known
            else:
                lines = slotted.format_map(fields).split("\n")
                lines.pop()  # after the last line end
                hashes[field_name] = _first_degree_hash(known + lines)
        if len(set(hashes.values())) != len(hashes):
            return canonical_nquads(self.quads_for(values))
        for index, node in enumerate(sorted(hashes, key=hashes.__getitem__)):
            fields[node] = _LABELS[index] if index < len(_LABELS) else f"_:c14n{index}"
        keyed = []
        for (before, field_name, after), in_order, text in self._groups:
            text = text.format_map(fields)
            if not in_order:
                lines = text.split("\n")
                lines.pop()  # after the last line end
                text = "\n".join(sorted(set(lines))) + "\n"
            keyed.append((before + fields[field_name] + after if field_name else before, text))
        keyed.sort()
        if any(a[0] == b[0] for a, b in zip(keyed, keyed[1:], strict=False)):
            # A slot's IRI is another subject: the groups share lines to sort together.
            lines = self._all_lines.format_map(fields).split("\n")
            lines.pop()
            return "\n".join(sorted(set(lines))) + "\n" if lines else ""
        return "".join(text for _key, text in keyed)


_KNOWN, _PRESORTED, _SORT = 0, 1, 2


def _sorted_ahead(formats: list[str]) -> list[str] | None:
    """The line formats in the order of their lines whatever fills the slots, or None if that
    order depends on the values: it is fixed when any two lines differ before the first slot of
    either (the text up to it is known, and it decides the comparison)."""
    if any("{{" in line or "}}" in line for line in formats):
        return None  # escaped braces: keep it simple, sort at run time
    known = sorted(line.split("{", 1)[0] for line in formats)
    for before, after in zip(known, known[1:], strict=False):
        if after.startswith(before):  # equal, or one is a prefix: the values decide
            return None
    return sorted(formats, key=lambda line: line.split("{", 1)[0])


def _first_degree_hash(lines: list[str]) -> str:
    """SHA-256 of a node's lines (given without their line ends) in sorted order, each ending
    in a line end. No line is a prefix of another (each ends in " ." and " ." ends a line), so
    sorting them without their line ends is sorting them with."""
    return hashlib.sha256(("\n".join(sorted(lines)) + "\n").encode()).hexdigest()


_LABELS = [f"_:c14n{index}" for index in range(64)]


# --- sign and verify --------------------------------------------------------------------------


def proof_options(verification_method: str, created: str, context: Any) -> dict[str, Any]:
    return {
        "@context": context,
        "type": "DataIntegrityProof",
        "cryptosuite": CRYPTOSUITE,
        "created": created,
        "verificationMethod": verification_method,
        "proofPurpose": "assertionMethod",
    }


_proof_hashes: dict[str, bytes] = {}


def proof_config_hash(options: Mapping[str, Any]) -> bytes:
    """SHA-256 of the canonical proof configuration; cached (one per key and moment)."""
    key = json.dumps(options, sort_keys=True)
    cached = _proof_hashes.get(key)
    if cached is None:
        cached = hashlib.sha256(canonize(options).encode()).digest()
        if len(_proof_hashes) > 1000:
            _proof_hashes.clear()
        _proof_hashes[key] = cached
    return cached


_config_hashes: dict[tuple[str, ...], bytes] = {}


def _config_hash(options: Mapping[str, Any]) -> bytes:
    """proof_config_hash, keyed without a json.dumps per credential when the context is a list
    of URLs (the only options that vary between our credentials are these three)."""
    context = options["@context"]
    if not (isinstance(context, list) and all(type(url) is str for url in context)):
        return proof_config_hash(options)
    key = (options["verificationMethod"], options["created"], *context)
    cached = _config_hashes.get(key)
    if cached is None:
        cached = proof_config_hash(options)
        if len(_config_hashes) > 1000:
            _config_hashes.clear()
        _config_hashes[key] = cached
    return cached


def attach_proof(
    document: Mapping[str, Any],
    canonical_document: str,
    private_key: Ed25519PrivateKey,
    verification_method: str,
    created: str,
) -> dict[str, Any]:
    """The document with its `proof`, given the canonical N-Quads of the document."""
    options = proof_options(verification_method, created, document["@context"])
    data = _config_hash(options) + hashlib.sha256(canonical_document.encode()).digest()
    proof = {k: v for k, v in options.items() if k != "@context"}
    proof["proofValue"] = multibase_b58(private_key.sign(data))
    signed = dict(document)
    signed["proof"] = proof
    return signed


def sign(
    document: Mapping[str, Any],
    private_key: Ed25519PrivateKey,
    verification_method: str,
    created: str,
) -> dict[str, Any]:
    """Add an eddsa-rdfc-2022 proof to a document (full canonicalization)."""
    unsigned = {k: v for k, v in document.items() if k != "proof"}
    return attach_proof(unsigned, canonize(unsigned), private_key, verification_method, created)


def verify(
    document: Mapping[str, Any],
    resolve_key: Callable[[str], Ed25519PublicKey | None],
    allowed_contexts: list[str] | None = None,
) -> dict[str, Any]:
    """Check the proof of `document`; returns the proof. Raises ProofError with a short reason
    ("malformed", "unknown-key", "bad-signature")."""
    if not isinstance(document, Mapping):
        raise ProofError("malformed")
    proof = document.get("proof")
    if not isinstance(proof, Mapping):
        raise ProofError("malformed")
    if (
        proof.get("type") != "DataIntegrityProof"
        or proof.get("cryptosuite") != CRYPTOSUITE
        or proof.get("proofPurpose") != "assertionMethod"
        or not isinstance(proof.get("verificationMethod"), str)
        or not isinstance(proof.get("created"), str)
        or not isinstance(proof.get("proofValue"), str)
        or set(proof)
        - {"type", "cryptosuite", "created", "verificationMethod", "proofPurpose", "proofValue"}
    ):
        raise ProofError("malformed")
    context = document.get("@context")
    if allowed_contexts is not None and context != allowed_contexts:
        # Pinned contexts: a term's meaning is fixed, so what we read is what was signed.
        raise ProofError("malformed")
    key = resolve_key(proof["verificationMethod"])
    if key is None:
        raise ProofError("unknown-key")
    try:
        signature = multibase_decode(proof["proofValue"])
        if not proof["proofValue"].startswith("z") or len(signature) != 64:
            raise ProofError("malformed")
        unsigned = {k: v for k, v in document.items() if k != "proof"}
        options = proof_options(proof["verificationMethod"], proof["created"], context)
        data = proof_config_hash(options) + hashlib.sha256(canonize(unsigned).encode()).digest()
    except ProofError:
        raise
    except Exception as exc:  # bad JSON-LD, unknown context, bad encoding
        raise ProofError("malformed") from exc
    try:
        key.verify(signature, data)
    except InvalidSignature:
        raise ProofError("bad-signature") from None
    return dict(proof)
