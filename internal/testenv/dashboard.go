package testenv

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// Dashboard is the part of the Grafana dashboard the tests read: its variables and panel queries.
type Dashboard struct {
	Templating struct {
		List []struct {
			Name, Type, Query string
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// LoadDashboard reads the dashboard the Helm chart ships.
func LoadDashboard() (Dashboard, error) {
	var d Dashboard
	root, err := RepoRoot()
	if err != nil {
		return d, err
	}
	raw, err := os.ReadFile(filepath.Join(root, "charts", "hama-operator", "dashboards", "hama-operator.json"))
	if err != nil {
		return d, err
	}
	return d, json.Unmarshal(raw, &d)
}
