"""User-guide flows driven by kubectl against kubesim, with the operator as a subprocess."""
