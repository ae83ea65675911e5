"""How the grader marks its hidden cells for the grading kernel (a source only the grader writes)."""

RESET_MARK = "# nookslab grader: reset"          # before each check cell: put back what checks rely on
INTEGRITY_MARK = "# nookslab grader: integrity"  # the last cell: report what was tampered with
INTEGRITY_OK = "integrity check: ok\n"
TAMPERED = "TAMPERED: replaced "
