from playground.ui.runs import runs_page

runs_page()
