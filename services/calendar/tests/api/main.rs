//! Calendar's HTTP tests against the real app, Postgres, Redis and RabbitMQ.

mod errors;
mod helpers;
mod jwt;
mod services;
