"""How the grader marks cells for the grading kernel (a first line only the grader writes)."""

CHECK_MARK = "# nookslab grader: check"          # reset what check cells rely on, then run
INTEGRITY_MARK = "# nookslab grader: integrity"  # run nothing: report what was tampered with
INTEGRITY_OK = "integrity check: ok\n"
TAMPERED = "TAMPERED: replaced "
