-- Quizzes (siyu_domain::campaigns): the quiz with its questions and answers, rewards and when its
-- top prizes were given; each attempt numbered per customer (one row each), its deadline, answers
-- and score once submitted.
CREATE TABLE quizzes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    questions TEXT NOT NULL,
    time_limit_seconds INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    pass_score INTEGER,
    pass_reward TEXT,
    top_prizes TEXT NOT NULL,
    awarded_at INTEGER,
    award_lease_until INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX quizzes_workspace ON quizzes(workspace_id, id);
CREATE INDEX quizzes_due ON quizzes(ends_at) WHERE awarded_at IS NULL;
CREATE TABLE quiz_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    quiz_id INTEGER NOT NULL REFERENCES quizzes(id) ON DELETE CASCADE,
    customer_id INTEGER NOT NULL,
    n INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    submitted_at INTEGER,
    score INTEGER,
    duration_ms INTEGER,
    answers TEXT,
    UNIQUE (quiz_id, customer_id, n)
);
CREATE INDEX quiz_attempts_board ON quiz_attempts(quiz_id, score);
CREATE INDEX quiz_attempts_customer ON quiz_attempts(workspace_id, customer_id);
