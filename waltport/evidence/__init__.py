"""What a stage found, as typed records: below ``stages/`` (which write them) and
``pipeline/`` (which reads them into the summary and the reports)."""
