"""Config-defined commands (aliases): ``/deploy staging`` runs a workflow, a pipeline or a signed
HTTP call with validated parameters (README "Aliases")."""
