-- A stand-in for pgvector (`--stub-extension vector`), for an audit that
-- does not depend on vector search: the type `vector(n)` exists and holds
-- its text as given, the distance operators and functions exist and return
-- 0, and values convert from arrays. Built from the server's own text input
-- and output functions, so no library is needed. @extschema@ is the schema
-- the CREATE EXTENSION named (public by default).
CREATE SCHEMA IF NOT EXISTS @extschema@;
-- Where the platform installs extensions into a schema of their own, its
-- roles can use it (Supabase grants `extensions` to every API role).
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
CREATE TYPE @extschema@.vector;
CREATE FUNCTION @extschema@.vector_in(cstring, oid, integer) RETURNS @extschema@.vector
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'textin';
CREATE FUNCTION @extschema@.vector_out(@extschema@.vector) RETURNS cstring
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'textout';
CREATE FUNCTION @extschema@.vector_typmod_in(cstring[]) RETURNS integer
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'varchartypmodin';
CREATE FUNCTION @extschema@.vector_typmod_out(integer) RETURNS cstring
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'varchartypmodout';
CREATE TYPE @extschema@.vector (
    INPUT = @extschema@.vector_in,
    OUTPUT = @extschema@.vector_out,
    TYPMOD_IN = @extschema@.vector_typmod_in,
    TYPMOD_OUT = @extschema@.vector_typmod_out,
    INTERNALLENGTH = VARIABLE,
    STORAGE = extended
);

CREATE FUNCTION @extschema@.vector_eq(@extschema@.vector, @extschema@.vector) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT $1::text = $2::text';
CREATE OPERATOR @extschema@.= (LEFTARG = @extschema@.vector, RIGHTARG = @extschema@.vector, FUNCTION = @extschema@.vector_eq);

CREATE FUNCTION @extschema@.vector_stub_distance(@extschema@.vector, @extschema@.vector) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT 0::double precision';
CREATE FUNCTION @extschema@.l2_distance(@extschema@.vector, @extschema@.vector) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT 0::double precision';
CREATE FUNCTION @extschema@.cosine_distance(@extschema@.vector, @extschema@.vector) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT 0::double precision';
CREATE FUNCTION @extschema@.inner_product(@extschema@.vector, @extschema@.vector) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT 0::double precision';
CREATE FUNCTION @extschema@.vector_dims(@extschema@.vector) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT cardinality(string_to_array(trim(both ''[]'' from $1::text), '',''))';
CREATE OPERATOR @extschema@.<-> (LEFTARG = @extschema@.vector, RIGHTARG = @extschema@.vector, FUNCTION = @extschema@.vector_stub_distance);
CREATE OPERATOR @extschema@.<=> (LEFTARG = @extschema@.vector, RIGHTARG = @extschema@.vector, FUNCTION = @extschema@.vector_stub_distance);
CREATE OPERATOR @extschema@.<#> (LEFTARG = @extschema@.vector, RIGHTARG = @extschema@.vector, FUNCTION = @extschema@.vector_stub_distance);
CREATE OPERATOR @extschema@.<+> (LEFTARG = @extschema@.vector, RIGHTARG = @extschema@.vector, FUNCTION = @extschema@.vector_stub_distance);

CREATE CAST (real[] AS @extschema@.vector) WITH INOUT AS ASSIGNMENT;
CREATE CAST (double precision[] AS @extschema@.vector) WITH INOUT AS ASSIGNMENT;
CREATE CAST (integer[] AS @extschema@.vector) WITH INOUT AS ASSIGNMENT;
CREATE CAST (numeric[] AS @extschema@.vector) WITH INOUT AS ASSIGNMENT;
