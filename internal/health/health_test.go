package health_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine/memengine"
	"sluice/internal/health"
)

func TestLive(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	health.Live().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "ok\n", rec.Body.String())
}

func TestReady(t *testing.T) {
	t.Parallel()
	eng := memengine.New()
	h := health.Ready(eng, time.Second, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "ready\n", rec.Body.String())

	// A closed engine is not ready.
	require.NoError(t, eng.Close())
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Contains(t, rec.Body.String(), "not ready")
}
