"""The exercises solved, written the way the course loop writes them (training/course_loop.py).

Look here after trying: each file is its exercise with the blank filled in, and runs the same way,
e.g. ``python exercises/solutions/loop_backward.py``. The tests check every solution with the checker
and against the loop.
"""
