"""What runs above the core for every front end: the client protocol (``EngineClient``) and
enrollment jobs (``EnrollmentService``)."""
