"""Finding discrepancies between a candidate's file and its identity sources (DESIGN §1-2)."""
