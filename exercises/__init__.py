"""Exercises that name the mistake: write a backward pass, the checker says which formula is wrong and why.

    from exercises import check_backward, check_layer, main
    report = check_backward(backward)    # backward(X, y, W, b, W2, b2, hidden_layer, probs[, reg=λ]) -> dict
    report = check_layer(MyLinear)       # a Layer subclass whose backward you wrote
    print(report)                        # the verdict; report.passed, report.findings

The exercise files are in this folder (``python exercises/loop_backward.py``); the catalogue of mistakes,
each with its lesson, is docs/exercises.md.
"""

from exercises.checker import Finding, Report, check_backward, check_layer, main

__all__ = ["check_backward", "check_layer", "main", "Report", "Finding"]
