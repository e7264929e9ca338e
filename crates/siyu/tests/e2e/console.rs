//! Console tests in a real headless Chromium (see the console module's tests).
