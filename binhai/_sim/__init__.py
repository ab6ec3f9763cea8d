"""The simulator's evaluation: scenarios run in virtual time through the real device engine and
the cloud's judgement in process, scored against ground truth (``binhai sim eval``)."""
