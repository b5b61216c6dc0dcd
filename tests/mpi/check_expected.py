#!/usr/bin/env python3
"""Compares lockstep's --output-json with Hugging Face transformers' outputs in ../shared/expected.

  check_expected.py prompts EXPECTED.json > prompts.txt      the prompts that the reference ran (not skipped)
  check_expected.py compare EXPECTED.json OUT.json [--logprob-tol 1e-4]
Greedy token ids must be identical; the top-5 log-probs must match the reference's within the tolerance.
"""
import json
import sys


def ran(expected):
    return [r for r in expected["results"] if not r.get("skipped")]


def compare(expected, out, tol):
    errors = []
    refs = ran(expected)
    reqs = out["requests"]
    if len(reqs) != len(refs):
        return [f"{len(reqs)} requests in the output, {len(refs)} in the reference"]
    worst = 0.0
    for i, (ref, req) in enumerate(zip(refs, reqs)):
        if req["prompt_token_ids"] != ref["prompt_ids"]:
            errors.append(f"request {i}: prompt ids {req['prompt_token_ids']} != {ref['prompt_ids']}")
        if req["token_ids"] != ref["generated_ids"]:
            first = next((k for k, (a, b) in enumerate(zip(req["token_ids"], ref["generated_ids"])) if a != b),
                         min(len(req["token_ids"]), len(ref["generated_ids"])))
            errors.append(f"request {i}: tokens differ first at position {first}: "
                          f"{req['token_ids'][first:first + 3]} vs expected {ref['generated_ids'][first:first + 3]}")
            continue
        if req["text"] != ref["generated_text"]:
            errors.append(f"request {i}: text {req['text']!r} != {ref['generated_text']!r}")
        if tol is None:
            continue
        if not req.get("logprobs"):
            errors.append(f"request {i}: no logprobs in the output (run with --logprobs 5)")
            continue
        for pos, (mine, theirs) in enumerate(zip(req["logprobs"], ref["logprobs"])):
            mine_by_id = {e["id"]: e["logprob"] for e in mine}
            for e in theirs:
                if e["id"] not in mine_by_id:
                    # Only acceptable for a near-tie at the edge of the top-K.
                    if abs(e["logprob"] - theirs[-1]["logprob"]) > tol:
                        errors.append(f"request {i} position {pos}: id {e['id']} missing from the top-K")
                    continue
                diff = abs(mine_by_id[e["id"]] - e["logprob"])
                worst = max(worst, diff)
                if diff > tol:
                    errors.append(f"request {i} position {pos} id {e['id']}: logprob {mine_by_id[e['id']]:.7f} "
                                  f"vs {e['logprob']:.7f} (|diff| {diff:.2e} > {tol})")
    print(f"checked {len(refs)} requests, {sum(len(r['generated_ids']) for r in refs)} tokens; "
          f"largest logprob difference {worst:.2e}")
    return errors


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "prompts":
        for r in ran(json.load(open(sys.argv[2]))):
            print(r["prompt"])
        return 0
    if len(sys.argv) >= 4 and sys.argv[1] == "compare":
        tol = float(sys.argv[5]) if len(sys.argv) >= 6 and sys.argv[4] == "--logprob-tol" else None
        errors = compare(json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), tol)
        for e in errors[:20]:
            print("MISMATCH:", e)
        return 1 if errors else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
