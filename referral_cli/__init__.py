"""`referral-bus`, the command line: developers', integrators' and SRE staff's tooling; never imported by a worker."""
