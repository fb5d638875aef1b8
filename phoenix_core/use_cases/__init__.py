"""What users and agents do, one home each: experiments (create, edit, delete, start, stop,
dry-run), enrolment and task reports; a router parses its input and calls one of these."""
