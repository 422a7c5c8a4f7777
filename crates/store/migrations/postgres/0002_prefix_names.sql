-- Whether a profile prefixes its servers' tool and prompt names and resource URIs
-- (<server>_<name>, gigmcp://<server>/<uri>). Off is allowed for one-server profiles only.
ALTER TABLE profiles ADD COLUMN prefix_names BIGINT NOT NULL DEFAULT 1 CHECK (prefix_names IN (0, 1));
