"""One module per prediction type: the rule that turns a text or product table into predictions."""
