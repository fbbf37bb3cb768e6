"""The lab: simulators, offline evaluators and public datasets, for measuring what the models
and policies are worth before and beside production."""
