"""``python -m emcourse_grader serve``: submissions graded as they arrive.

One job per module:

* :mod:`.policy` - an assignment's policy (``[assignments.policy]`` in course.toml): how many
  attempts are graded, which one counts, what a student sees before the deadline, the
  deadline and what happens to a late submission.
* :mod:`.queue` - the durable fair queue and the record of every attempt: a SQLite journal
  in the course root (``serve/journal.sqlite``, the instructor's alone).
* :mod:`.watch` - noticing new submissions in the exchange (nbgrader's filesystem inbound, or
  the hub exchange's store through its API).
* :mod:`.steps` - a job's steps through nbgrader's own commands: collect (with custody),
  the gradebook's scores, the feedback and its release through the exchange's release path.
* :mod:`.grading` - one submission at a time sent to the Dask cluster as a worker becomes
  free, each result written as soon as it is there (the pipeline).
* :mod:`.service` - the long-running loop that ties them together.
* :mod:`.pages` - the student's and the instructor's pages (templates in ``templates/``).

docs/teaching.md, "Feedback in a minute", says how to run it.
"""
