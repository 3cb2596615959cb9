"""Pure pipeline logic, importable without Prefect: one package or module per stage or concern."""
