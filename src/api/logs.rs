//! The two-step logs protocol: PUT request_logs, then poll the returned `result_url`.
