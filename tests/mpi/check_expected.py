#!/usr/bin/env python3
"""Compares lockstep's --output-json with Hugging Face transformers' outputs in ../shared/expected.

  check_expected.py prompts EXPECTED.json > prompts.txt      the prompts that the reference ran (not skipped)
  check_expected.py compare EXPECTED.json OUT.json [--logprob-tol 1e-4] [--near-tie 5e-2]
Greedy token ids must be identical; the top-5 log-probs must match the reference's within the tolerance.
With --near-tie (half precision against the fp32 reference), a request may part from the reference's tokens
where the reference's top-1 - top-2 margin is below that threshold (rounding can flip a near-tie); it is
checked up to there, and the flip is reported.
"""
import json
import sys


def ran(expected):
    return [r for r in expected["results"] if not r.get("skipped")]


def compare(expected, out, tol, near_tie=None):
    errors = []
    refs = ran(expected)
    reqs = out["requests"]
    if len(reqs) != len(refs):
        return [f"{len(reqs)} requests in the output, {len(refs)} in the reference"]
    worst = 0.0
    flips = []
    for i, (ref, req) in enumerate(zip(refs, reqs)):
        if req["prompt_token_ids"] != ref["prompt_ids"]:
            errors.append(f"request {i}: prompt ids {req['prompt_token_ids']} != {ref['prompt_ids']}")
        upto = len(ref["generated_ids"])  # positions compared
        if req["token_ids"] != ref["generated_ids"]:
            first = next((k for k, (a, b) in enumerate(zip(req["token_ids"], ref["generated_ids"])) if a != b),
                         min(len(req["token_ids"]), len(ref["generated_ids"])))
            margins = ref.get("per_step_top1_margin", [])
            margin = margins[first] if first < len(margins) else None
            what = (f"request {i}: tokens differ first at position {first}: {req['token_ids'][first:first + 3]} "
                    f"vs expected {ref['generated_ids'][first:first + 3]}")
            if near_tie is None or margin is None or margin >= near_tie or first >= len(req["token_ids"]):
                errors.append(what + (f" (reference margin {margin:.2e})" if margin is not None else ""))
                continue
            flips.append(f"{what}: a near-tie (reference margin {margin:.2e} < {near_tie})")
            upto = first
        elif req["text"] != ref["generated_text"]:
            errors.append(f"request {i}: text {req['text']!r} != {ref['generated_text']!r}")
        if tol is None:
            continue
        if not req.get("logprobs"):
            errors.append(f"request {i}: no logprobs in the output (run with --logprobs 5)")
            continue
        for pos, (mine, theirs) in enumerate(zip(req["logprobs"][:upto], ref["logprobs"][:upto])):
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
    for f in flips:
        print("NEAR-TIE FLIP:", f)
    print(f"checked {len(refs)} requests, {sum(len(r['generated_ids']) for r in refs)} tokens; "
          f"largest logprob difference {worst:.2e}" + (f"; {len(flips)} requests part at a near-tie" if flips else ""))
    return errors


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "prompts":
        for r in ran(json.load(open(sys.argv[2]))):
            print(r["prompt"])
        return 0
    if len(sys.argv) >= 4 and sys.argv[1] == "compare":
        opts = dict(zip(sys.argv[4::2], sys.argv[5::2]))
        unknown = set(opts) - {"--logprob-tol", "--near-tie"}
        if unknown or len(sys.argv[4:]) % 2:
            print(__doc__)
            return 2
        tol = float(opts["--logprob-tol"]) if "--logprob-tol" in opts else None
        near_tie = float(opts["--near-tie"]) if "--near-tie" in opts else None
        errors = compare(json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), tol, near_tie)
        for e in errors[:20]:
            print("MISMATCH:", e)
        return 1 if errors else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
