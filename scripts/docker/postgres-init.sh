#!/bin/bash
# Runs once, when the postgres container initialises an empty data volume
# (mounted into /docker-entrypoint-initdb.d by docker-compose.yml).
#
# Two roles with their own passwords instead of everything as the superuser:
#   nodefoundry  owns the application database `nodefoundry`;
#   temporal     may create databases: Temporal's SQL tool creates `temporal` and
#                `temporal_visibility` and installs their schemas (temporal-schema in docker-compose.yml;
#                the visibility schema needs the
#                btree_gin extension, which PostgreSQL >= 13 lets a database owner create).
set -euo pipefail

: "${NF_DB_PASSWORD:?NF_DB_PASSWORD is required}"
: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD is required}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v nf_password="$NF_DB_PASSWORD" -v temporal_password="$TEMPORAL_DB_PASSWORD" <<'SQL'
CREATE ROLE nodefoundry LOGIN PASSWORD :'nf_password';
CREATE DATABASE nodefoundry OWNER nodefoundry;
CREATE ROLE temporal LOGIN CREATEDB PASSWORD :'temporal_password';
SQL
